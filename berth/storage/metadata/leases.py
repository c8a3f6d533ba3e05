from __future__ import annotations

from sqlalchemy import Connection, or_, update

from .dialect import insert
from .schema import leases


def acquire(conn: Connection, name: str, holder: str, now: float, ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``holder``; False while someone else holds it."""
    conn.execute(insert(conn, leases).values(name=name, holder=holder, expires_at=0)
                 .on_conflict_do_nothing(index_elements=["name"]))
    result = conn.execute(update(leases).where(
        leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl))
    return result.rowcount == 1
