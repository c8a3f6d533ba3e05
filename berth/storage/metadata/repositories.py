from __future__ import annotations

import time

from sqlalchemy import Connection, select

from .dialect import insert
from .schema import repositories


def get_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(repositories.c.id).where(repositories.c.name == name)).scalar()


def ensure(conn: Connection, name: str) -> int:
    repo_id = get_id(conn, name)
    if repo_id is None:
        conn.execute(insert(conn, repositories)
                     .values(name=name, created_at=time.time())
                     .on_conflict_do_nothing(index_elements=["name"]))
        repo_id = get_id(conn, name)
    return repo_id


def list_names(conn: Connection, after: str | None, limit: int | None) -> list[str]:
    query = select(repositories.c.name).order_by(repositories.c.name)
    if after:
        query = query.where(repositories.c.name > after)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())
