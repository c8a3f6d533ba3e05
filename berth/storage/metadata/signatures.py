"""Rows of ``used_signatures``: a signature is claimed once (the insert of its row), and rows
past their expiry are pruned. A claim racing another for the same signature waits for it on
PostgreSQL (the primary key) and loses; SQLite's write transactions are serialised anyway."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete

from .database import Tx
from .schema import used_signatures
from .statements import insert


@cache
def _claim(dialect: str):
    return insert(dialect, used_signatures, "signature", "expires_at").on_conflict_do_nothing(
        index_elements=["signature"])


@cache
def _prune():
    return delete(used_signatures).where(used_signatures.c.expires_at < bindparam("before"))


def claim(tx: Tx, signature: str, expires_at: float) -> bool:
    """Record the signature; False if it was recorded already."""
    return tx.execute(_claim(tx.dialect_name),
                      {"signature": signature, "expires_at": expires_at}) == 1


def prune(tx: Tx, before: float) -> int:
    """Remove the signatures that expired before ``before``; how many."""
    return tx.execute(_prune(), {"before": before})
