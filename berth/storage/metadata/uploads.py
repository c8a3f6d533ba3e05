from __future__ import annotations

import json
import time

from sqlalchemy import Connection, delete, select, update

from .schema import uploads


def create(conn: Connection, upload_id: str, repository: str, state: dict) -> None:
    now = time.time()
    conn.execute(uploads.insert().values(id=upload_id, repository=repository, size=0,
                                         driver_state=json.dumps(state), created_at=now,
                                         updated_at=now))


def get(conn: Connection, upload_id: str):
    """(repository, size, driver state) or None."""
    row = conn.execute(select(uploads.c.repository, uploads.c.size, uploads.c.driver_state)
                       .where(uploads.c.id == upload_id)).first()
    if row is None:
        return None
    return row.repository, row.size, json.loads(row.driver_state)


def advance(conn: Connection, upload_id: str, old_size: int, new_size: int,
            state: dict) -> bool:
    """Compare-and-set the acknowledged size; False if another writer moved it first."""
    result = conn.execute(update(uploads).where(uploads.c.id == upload_id,
                                                uploads.c.size == old_size)
                          .values(size=new_size, driver_state=json.dumps(state),
                                  updated_at=time.time()))
    return result.rowcount == 1


def remove(conn: Connection, upload_id: str) -> bool:
    return conn.execute(delete(uploads).where(uploads.c.id == upload_id)).rowcount > 0


def stale(conn: Connection, older_than: float, limit: int = 100):
    return conn.execute(select(uploads.c.id, uploads.c.driver_state)
                        .where(uploads.c.updated_at < older_than)
                        .order_by(uploads.c.updated_at).limit(limit)).all()
