"""Rows of repositories with their settings (tag mutability, scanning, encryption)."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, exists, select, update

from .database import Tx
from .schema import manifests, repositories
from .statements import insert

_IN_REGISTRY = repositories.c.registry_id == bindparam("registry")
_NAMED = repositories.c.name == bindparam("name")
SETTING_COLUMNS = ("tag_mutability", "mutability_exclusions", "scan_on_push",
                   "encryption_type", "kms_key")
_COLUMNS = (repositories.c.id, repositories.c.name, repositories.c.created_at,
            repositories.c.policy, repositories.c.key_ref,
            *(repositories.c[name] for name in SETTING_COLUMNS))


@cache
def _get(lock: bool = False):
    query = select(*_COLUMNS).where(_IN_REGISTRY, _NAMED)
    return query.with_for_update() if lock else query


@cache
def _mutability():
    return select(repositories.c.name, repositories.c.tag_mutability,
                  repositories.c.mutability_exclusions).where(
        repositories.c.id == bindparam("id"))


@cache
def _list(after: bool):
    query = select(*_COLUMNS).where(_IN_REGISTRY).order_by(repositories.c.name).limit(
        bindparam("limit"))
    return query.where(repositories.c.name > bindparam("after")) if after else query


@cache
def _create(dialect: str):
    return insert(dialect, repositories, "registry_id", "name", "created_at", "key_ref",
                  *SETTING_COLUMNS
                  ).on_conflict_do_nothing(index_elements=["registry_id", "name"])


@cache
def _update(columns: tuple[str, ...]):
    return update(repositories).where(repositories.c.id == bindparam("id")).values(
        {name: bindparam(f"new_{name}") for name in columns})


@cache
def _delete():
    return delete(repositories).where(repositories.c.id == bindparam("id"))


@cache
def _has_images():
    return select(exists().where(manifests.c.repository_id == bindparam("id")).label("found"))


def get(tx: Tx, registry_id: int, name: str, lock: bool = False):
    """The repository's row (id, name, created_at, policy and the settings), or None;
    ``lock``: held until the transaction ends (PostgreSQL), so that a manifest inserted
    meanwhile (its foreign key shares the lock) waits for it."""
    return tx.first(_get(lock), {"registry": registry_id, "name": name})


def mutability(tx: Tx, repo_id: int):
    """(name, tag_mutability, mutability_exclusions) of the repository."""
    return tx.first(_mutability(), {"id": repo_id})


def page(tx: Tx, registry_id: int, after: str | None, limit: int) -> list:
    """Up to ``limit`` rows in name order, after the name ``after``."""
    return tx.all(_list(bool(after)), {"registry": registry_id, "after": after,
                                       "limit": limit})


def create(tx: Tx, registry_id: int, name: str, created_at: float, settings: dict) -> bool:
    """Insert the repository (``settings`` with its key_ref); False when one of that name
    exists already."""
    row = {"registry_id": registry_id, "name": name, "created_at": created_at, **settings}
    return tx.execute(_create(tx.dialect_name), row) > 0


def update_settings(tx: Tx, repo_id: int, values: dict) -> None:
    columns = tuple(sorted(values))
    tx.execute(_update(columns), {"id": repo_id,
                                  **{f"new_{name}": values[name] for name in columns}})


def remove(tx: Tx, repo_id: int) -> None:
    """Delete the repository; its tags, manifests, blob links and resource tags cascade."""
    tx.execute(_delete(), {"id": repo_id})


def has_images(tx: Tx, repo_id: int) -> bool:
    return bool(tx.scalar(_has_images(), {"id": repo_id}))
