"""Rows of repositories as the registry routes use them: ids, names, policies, tags."""
from __future__ import annotations

import time
from functools import cache

from sqlalchemy import bindparam, select, update

from .database import Tx
from .resource_tags import all_tags
from .schema import repositories
from .statements import insert

_IN_REGISTRY = repositories.c.registry_id == bindparam("registry")
_NAMED = repositories.c.name == bindparam("name")


@cache
def _get_id():
    return select(repositories.c.id).where(_IN_REGISTRY, _NAMED)


@cache
def _find():
    return select(repositories.c.id, repositories.c.key_ref).where(_IN_REGISTRY, _NAMED)


@cache
def _create(dialect: str):
    return insert(dialect, repositories, "registry_id", "name", "created_at", "key_ref"
                  ).on_conflict_do_nothing(index_elements=["registry_id", "name"])


@cache
def _names(after: bool, limited: bool):
    query = select(repositories.c.name, repositories.c.policy).where(_IN_REGISTRY).order_by(
        repositories.c.name)
    if after:
        query = query.where(repositories.c.name > bindparam("after"))
    if limited:
        query = query.limit(bindparam("limit"))
    return query


@cache
def _policy():
    return select(repositories.c.id, repositories.c.policy).where(_IN_REGISTRY, _NAMED)


def get_id(tx: Tx, registry_id: int, name: str) -> int | None:
    return tx.scalar(_get_id(), {"registry": registry_id, "name": name})


def find(tx: Tx, registry_id: int, name: str):
    """(id, key_ref) of the repository, or None."""
    return tx.first(_find(), {"registry": registry_id, "name": name})


def ensure(tx: Tx, registry_id: int, name: str, key_ref: str = "") -> int:
    """The repository's id, made with ``key_ref`` if it does not exist."""
    return get_id(tx, registry_id, name) or create(tx, registry_id, name, key_ref)[0]


def create(tx: Tx, registry_id: int, name: str, key_ref: str = "") -> tuple[int, bool]:
    """(id, whether it was made now) of the repository, made with ``key_ref`` if new."""
    made = tx.execute(_create(tx.dialect_name), {"registry_id": registry_id, "name": name,
                                                 "created_at": time.time(),
                                                 "key_ref": key_ref}) > 0
    return get_id(tx, registry_id, name), made


def list_names(tx: Tx, registry_id: int, after: str | None, limit: int | None) -> list:
    """Rows of (name, policy) in name order."""
    return tx.all(_names(bool(after), limit is not None),
                  {"registry": registry_id, "after": after, "limit": limit})


def policy(tx: Tx, registry_id: int, name: str):
    """(id, policy text or None), or None if the repository does not exist."""
    return tx.first(_policy(), {"registry": registry_id, "name": name})


@cache
def _set_policy():
    return update(repositories).where(_IN_REGISTRY, _NAMED).values(
        policy=bindparam("policy"))


def set_policy(tx: Tx, registry_id: int, name: str, policy: str | None) -> None:
    tx.execute(_set_policy(), {"registry": registry_id, "name": name, "policy": policy})


def tags_of(tx: Tx, repo_id: int) -> dict[str, str]:
    """The repository's resource tags (the repository_tags query module's reader)."""
    return all_tags(tx, repo_id)
