"""Public registries and their repositories' catalog data: each account's registry, made
with a default alias on first use, found by its alias for pulls; catalog data written in the
transaction that makes the repository, or alone."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable

from ..concurrency import blocking
from ..registry.repositories.resource_tags import validate_tags
from ..registry.repositories.service import require_id
from ..registry.repositories.settings import (
    Repository,
    RepositorySettings,
    insert_repository,
)
from ..registry.errors import RepositoryExists
from ..registry.references import validate_name
from ..storage.metadata import public as rows
from ..storage.metadata.database import Database
from .models import (
    AliasTaken,
    PublicRegistry,
    RepositoryCatalog,
    check_alias,
    default_alias,
    logo_type,
)

ALIAS_CACHE_SECONDS = 30.0  # how long another node's alias change may go unseen
_ALIAS_ATTEMPTS = 8


def _registry(row) -> PublicRegistry:
    return PublicRegistry(row.account_id, row.alias, row.display_name, row.description,
                          row.logo or None)


class PublicRegistries:
    def __init__(self, db: Database):
        self.db = db
        self._by_alias: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def ensure(self, account_id: str) -> PublicRegistry:
        """The account's public registry, made with a default alias if it has none."""
        for _ in range(_ALIAS_ATTEMPTS):
            with self.db.write() as tx:
                row = rows.registry_by(tx, "account_id", account_id)
                if row is None and rows.add_registry(tx, account_id, default_alias(),
                                                     time.time()):
                    row = rows.registry_by(tx, "account_id", account_id)
            if row is not None:  # else the random alias was taken: draw again
                return _registry(row)
        raise RuntimeError("no free public registry alias found")

    def get(self, account_id: str) -> PublicRegistry | None:
        with self.db.read() as tx:
            row = rows.registry_by(tx, "account_id", account_id)
        return None if row is None else _registry(row)

    def cached_account(self, alias: str) -> tuple[bool, str | None]:
        """(known, account) from the cache alone: no database, so cheap on the event loop."""
        found = self._by_alias.get(alias)
        if found is not None and time.monotonic() - found[1] < ALIAS_CACHE_SECONDS:
            return True, found[0]
        return False, None

    async def account_of_async(self, alias: str) -> str | None:
        """``account_of`` for a coroutine: from the cache on the event loop, else a thread."""
        known, account = self.cached_account(alias)
        return account if known else await blocking(self.account_of, alias)

    def account_of(self, alias: str) -> str | None:
        """The account whose public registry has ``alias`` (cached a short while)."""
        known, account = self.cached_account(alias)
        if known:
            return account
        now = time.monotonic()
        with self.db.read() as tx:
            row = rows.registry_by(tx, "alias", alias)
        account = None if row is None else row.account_id
        with self._lock:
            if len(self._by_alias) > 10_000:
                self._by_alias.clear()
            self._by_alias[alias] = (account, now)
        return account

    def set_alias(self, account_id: str, alias: str) -> PublicRegistry:
        """Give the account's registry ``alias`` (AliasTaken if another has it)."""
        check_alias(alias)
        self.ensure(account_id)
        with self.db.write() as tx:
            owner = rows.registry_by(tx, "alias", alias)
            if owner is not None and owner.account_id != account_id:
                raise AliasTaken(f"The registry alias '{alias}' is already in use.")
            old = rows.registry_by(tx, "account_id", account_id).alias
            rows.set_registry(tx, account_id, "alias", alias)
        with self._lock:
            self._by_alias.pop(old, None)
            self._by_alias.pop(alias, None)
        return self.ensure(account_id)

    def put_catalog(self, account_id: str, display_name: str | None = None,
                    description: str | None = None, logo: bytes | None = None
                    ) -> PublicRegistry:
        """The members given replace the registry's; those left out stay (an empty logo
        removes it)."""
        if logo:
            logo_type(logo)
        self.ensure(account_id)
        given = {"display_name": display_name, "description": description, "logo": logo}
        with self.db.write() as tx:
            for column, value in given.items():
                if value is not None:  # left out: kept; an empty logo is stored as none
                    rows.set_registry(tx, account_id, column,
                                      None if column == "logo" and not value else value)
        return self.ensure(account_id)


class RepositoryCatalogs:
    """The catalog data of one public registry's repositories."""

    def __init__(self, db: Database, registry_id: int, encryption):
        self.db = db
        self.registry_id = registry_id
        self.encryption = encryption

    def create(self, name: str, catalog: RepositoryCatalog | None,
               tags: Iterable[tuple[str, str]] = ()) -> Repository:
        """A public repository with its catalog data and tags, all or nothing."""
        validate_name(name)
        wanted = validate_tags(tags)
        if catalog is not None and catalog.logo:
            logo_type(catalog.logo)
        with self.db.write() as tx:
            row = insert_repository(tx, self.registry_id, name, RepositorySettings(), wanted,
                                    self.encryption)
            if row is None:
                raise RepositoryExists(f"repository {name!r} exists", {"name": name})
            if catalog is not None:
                _store(tx, row.id, catalog)
        return Repository(row.name, row.created_at, RepositorySettings())

    def get(self, name: str) -> RepositoryCatalog:
        with self.db.read() as tx:
            found = rows.catalog(tx, require_id(tx, self.registry_id, name))
        return RepositoryCatalog() if found is None else RepositoryCatalog.from_data(
            json.loads(found.data), found.logo)

    def put(self, name: str, given: dict) -> RepositoryCatalog:
        """Merge the members given (RepositoryCatalog field names) into the repository's
        catalog data; an empty logo removes it."""
        if given.get("logo"):
            logo_type(given["logo"])
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, name)
            found = rows.catalog(tx, repo_id)
            current = RepositoryCatalog() if found is None else RepositoryCatalog.from_data(
                json.loads(found.data), found.logo)
            merged = RepositoryCatalog(**{**current.__dict__, **given})
            _store(tx, repo_id, merged)
        return merged

    def all(self) -> dict[str, RepositoryCatalog]:
        """Each repository with catalog data, by name (logos left out)."""
        with self.db.read() as tx:
            found = rows.catalogs(tx, self.registry_id)
        return {row.name: RepositoryCatalog.from_data(json.loads(row.data), None)
                for row in found}


def _store(tx, repo_id: int, catalog: RepositoryCatalog) -> None:
    rows.put_catalog(tx, repo_id, json.dumps(catalog.data()), catalog.logo or None,
                     time.time())
