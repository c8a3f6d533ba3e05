from __future__ import annotations

import time
from functools import cache

from sqlalchemy import bindparam, delete, func, select, tuple_

from .database import Tx
from .schema import tags
from .statements import insert

_REPO = tags.c.repository_id == bindparam("repo")


@cache
def _get_digest():
    return select(tags.c.digest).where(_REPO, tags.c.name == bindparam("tag"))


@cache
def _put(dialect: str):
    stmt = insert(dialect, tags, "repository_id", "name", "digest", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "name"],
        set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at})


@cache
def _remove():
    return delete(tags).where(_REPO, tags.c.name == bindparam("tag"))


@cache
def _remove_for_digest():
    return delete(tags).where(_REPO, tags.c.digest == bindparam("digest"))


@cache
def _names(after: bool, limited: bool):
    # The spec's lexical order: case-insensitive, ties broken byte-wise.
    query = select(tags.c.name).where(_REPO).order_by(func.lower(tags.c.name), tags.c.name)
    if after:
        # The first condition lets the index seek; the second settles ties exactly.
        after_lower = func.lower(bindparam("after"))
        query = query.where(func.lower(tags.c.name) >= after_lower,
                            tuple_(func.lower(tags.c.name), tags.c.name) > tuple_(
                                after_lower, bindparam("after_raw")))
    if limited:
        query = query.limit(bindparam("limit"))
    return query


def get_digest(tx: Tx, repo_id: int, tag: str) -> str | None:
    return tx.scalar(_get_digest(), {"repo": repo_id, "tag": tag})


def put(tx: Tx, repo_id: int, tag: str, digest: str) -> None:
    tx.execute(_put(tx.dialect_name), {"repository_id": repo_id, "name": tag, "digest": digest,
                                       "updated_at": time.time()})


def remove(tx: Tx, repo_id: int, tag: str) -> bool:
    return tx.execute(_remove(), {"repo": repo_id, "tag": tag}) > 0


def remove_for_digest(tx: Tx, repo_id: int, digest: str) -> None:
    tx.execute(_remove_for_digest(), {"repo": repo_id, "digest": digest})


def list_names(tx: Tx, repo_id: int, after: str | None, limit: int | None) -> list[str]:
    return tx.scalars(_names(bool(after), limit is not None),
                      {"repo": repo_id, "after": after, "after_raw": after, "limit": limit})
