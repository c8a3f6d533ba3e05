from __future__ import annotations

import time
from functools import cache

from sqlalchemy import bindparam, select

from .database import Tx
from .schema import repositories
from .statements import insert


@cache
def _get_id():
    return select(repositories.c.id).where(repositories.c.name == bindparam("name"))


@cache
def _create(dialect: str):
    return insert(dialect, repositories, "name", "created_at").on_conflict_do_nothing(
        index_elements=["name"])


@cache
def _names(after: bool, limited: bool):
    query = select(repositories.c.name).order_by(repositories.c.name)
    if after:
        query = query.where(repositories.c.name > bindparam("after"))
    if limited:
        query = query.limit(bindparam("limit"))
    return query


def get_id(tx: Tx, name: str) -> int | None:
    return tx.scalar(_get_id(), {"name": name})


def ensure(tx: Tx, name: str) -> int:
    repo_id = get_id(tx, name)
    if repo_id is None:
        tx.execute(_create(tx.dialect_name), {"name": name, "created_at": time.time()})
        repo_id = get_id(tx, name)
    return repo_id


def list_names(tx: Tx, after: str | None, limit: int | None) -> list[str]:
    return tx.scalars(_names(bool(after), limit is not None), {"after": after, "limit": limit})
