from __future__ import annotations

import time

from sqlalchemy import Connection, delete, func, literal, select, tuple_

from .dialect import insert
from .schema import tags


def get_digest(conn: Connection, repo_id: int, tag: str) -> str | None:
    return conn.execute(select(tags.c.digest).where(
        tags.c.repository_id == repo_id, tags.c.name == tag)).scalar()


def put(conn: Connection, repo_id: int, tag: str, digest: str) -> None:
    now = time.time()
    stmt = insert(conn, tags).values(repository_id=repo_id, name=tag, digest=digest,
                                     updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["repository_id", "name"],
        set_={"digest": stmt.excluded.digest, "updated_at": now}))


def remove(conn: Connection, repo_id: int, tag: str) -> bool:
    result = conn.execute(delete(tags).where(tags.c.repository_id == repo_id,
                                             tags.c.name == tag))
    return result.rowcount > 0


def remove_for_digest(conn: Connection, repo_id: int, digest: str) -> None:
    conn.execute(delete(tags).where(tags.c.repository_id == repo_id, tags.c.digest == digest))


def list_names(conn: Connection, repo_id: int, after: str | None,
               limit: int | None) -> list[str]:
    """Tags in the spec's lexical order: case-insensitive, ties broken byte-wise."""
    key = tuple_(func.lower(tags.c.name), tags.c.name)
    query = (select(tags.c.name).where(tags.c.repository_id == repo_id)
             .order_by(func.lower(tags.c.name), tags.c.name))
    if after:
        query = query.where(key > tuple_(func.lower(literal(after)), literal(after)))
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())
