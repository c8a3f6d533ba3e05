from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, or_, update

from .database import Tx
from .schema import leases
from .statements import insert


@cache
def _create(dialect: str):
    return insert(dialect, leases, "name", "holder", "expires_at").on_conflict_do_nothing(
        index_elements=["name"])


@cache
def _take():
    return update(leases).where(
        leases.c.name == bindparam("name"),
        or_(leases.c.holder == bindparam("holder"), leases.c.expires_at < bindparam("now")),
    ).values(holder=bindparam("holder"), expires_at=bindparam("until"))


def acquire(tx: Tx, name: str, holder: str, now: float, ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``holder``; False while someone else holds it."""
    tx.execute(_create(tx.dialect_name), {"name": name, "holder": holder, "expires_at": 0})
    return tx.execute(_take(), {"name": name, "holder": holder, "now": now,
                                "until": now + ttl}) == 1
