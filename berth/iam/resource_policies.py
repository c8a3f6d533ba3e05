"""Resource-based policies: a repository's policy and its registry's policy. Stored with the
repository and registry rows; every change bumps the "iam" generation so every node applies
it from its next request."""
from __future__ import annotations

from ..registry.repositories import require_id
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import repositories as repository_rows
from ..storage.metadata.database import Database
from .identities import IAM_GENERATION
from .policy import parse_policy


class ResourcePolicies:
    def __init__(self, db: Database):
        self.db = db

    def set_repository_policy(self, registry_id: int, repository: str, text: str) -> str:
        """Validate (raising PolicyError naming what and where) and store; returns the text."""
        parse_policy(text, kind="resource", name="repository policy")
        with self.db.write() as tx:
            require_id(tx, registry_id, repository)
            repository_rows.set_policy(tx, registry_id, repository, text)
            registry_rows.bump(tx, IAM_GENERATION)
        return text

    def repository_policy(self, registry_id: int, repository: str) -> str | None:
        with self.db.read() as tx:
            require_id(tx, registry_id, repository)
            return repository_rows.policy(tx, registry_id, repository).policy

    def delete_repository_policy(self, registry_id: int, repository: str) -> str | None:
        """Remove it; returns the policy that was there (None if there was none)."""
        with self.db.write() as tx:
            require_id(tx, registry_id, repository)
            old = repository_rows.policy(tx, registry_id, repository).policy
            repository_rows.set_policy(tx, registry_id, repository, None)
            registry_rows.bump(tx, IAM_GENERATION)
        return old

    def set_registry_policy(self, registry_id: int, text: str | None) -> None:
        if text is not None:
            parse_policy(text, kind="resource", name="registry policy")
        with self.db.write() as tx:
            registry_rows.set_registry_policy(tx, registry_id, text)
            registry_rows.bump(tx, IAM_GENERATION)

    def delete_registry_policy(self, registry_id: int) -> str | None:
        """Remove it; returns the policy that was there (None if there was none)."""
        with self.db.write() as tx:
            old = registry_rows.registry_policy(tx, registry_id)
            if old is not None:
                registry_rows.set_registry_policy(tx, registry_id, None)
                registry_rows.bump(tx, IAM_GENERATION)
        return old

    def registry_policy(self, registry_id: int) -> str | None:
        with self.db.read() as tx:
            return registry_rows.registry_policy(tx, registry_id)
