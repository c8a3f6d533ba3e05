"""Resource-based policies: a repository's policy and its registry's policy. Stored with the
repository and registry rows; every change bumps the "iam" generation so every node applies
it from its next request."""
from __future__ import annotations

from typing import Any, Mapping

from ..storage.metadata import registries as registry_rows
from ..storage.metadata import repositories as repository_rows
from ..storage.metadata.database import Database
from .authentication import Caller
from .authorization import decide, resource_policy
from .identities import IAM_GENERATION
from .policy import parse_policy
from .tenancy import RegistryAddress

SET_REPOSITORY_POLICY = "ecr:SetRepositoryPolicy"



class RepositoryUnknown(LookupError):
    """The repository a policy operation names does not exist."""

    def __init__(self, name: str):
        super().__init__(f"repository {name!r} does not exist")
        self.name = name


def _require(tx, registry_id: int, repository: str) -> None:
    if repository_rows.get_id(tx, registry_id, repository) is None:
        raise RepositoryUnknown(repository)

class PolicyLocksOut(Exception):
    """The policy would stop its setter from setting another one (and force was not given)."""


class ResourcePolicies:
    def __init__(self, db: Database):
        self.db = db

    def set_repository_policy(self, registry_id: int, repository: str, text: str, *,
                              caller: Caller | None = None,
                              address: RegistryAddress | None = None,
                              keys: Mapping[str, Any] | None = None,
                              force: bool = False) -> str:
        """Validate (raising PolicyError naming what and where) and store; returns the text.
        With a ``caller`` (at ``address``, with condition ``keys``), ECR's force rule: a
        policy that would stop the caller from setting another one raises PolicyLocksOut
        unless ``force`` (a missing repository, NameUnknown, is reported first)."""
        parse_policy(text, kind="resource", name="repository policy")
        with self.db.write() as tx:
            _require(tx, registry_id, repository)
            if caller is not None and not force:
                policies = tuple(resource_policy(t) for t in (
                    text, registry_rows.registry_policy(tx, registry_id)) if t)
                _, decision = decide(caller, address.action(SET_REPOSITORY_POLICY),
                                     address.repository_arn(repository), policies, keys)
                if not decision.allowed:
                    raise PolicyLocksOut("The policy would prevent you from setting a "
                                         "repository policy in the future; set force to "
                                         "apply it anyway")
            repository_rows.set_policy(tx, registry_id, repository, text)
            registry_rows.bump(tx, IAM_GENERATION)
        return text

    def repository_policy(self, registry_id: int, repository: str) -> str | None:
        with self.db.read() as tx:
            _require(tx, registry_id, repository)
            return repository_rows.policy(tx, registry_id, repository).policy

    def delete_repository_policy(self, registry_id: int, repository: str) -> str | None:
        """Remove it; returns the policy that was there (None if there was none)."""
        with self.db.write() as tx:
            _require(tx, registry_id, repository)
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
