"""Rows of the rates a deployment's nodes share (berth/quotas/sharing.py): what each node's
buckets admitted per bucket key (a 64-bit hash) in each of its syncs, kept a minute, so that
every other node takes it from its own buckets too. Declared here, on the shared metadata,
beside its statements."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, bindparam, \
    delete, select

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

rate_takes = Table(
    "rate_takes", metadata,
    Column("node", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),      # the node's sync, counting up
    Column("key_hash", BigInteger, primary_key=True),  # signed: a bucket key's 64-bit hash
    Column("taken", Integer, nullable=False),
    Column("at", Float, nullable=False),               # the writer's clock (epoch seconds)
    Index("ix_rate_takes_at", "at"),
)

R = rate_takes


@cache
def _add(dialect: str):
    return insert(dialect, R, "node", "seq", "key_hash", "taken", "at")


def add(tx: "Tx", node: str, seq: int, at: float, taken: Iterable[tuple[int, int]]) -> None:
    tx.executemany(_add(tx.dialect_name), [
        {"node": node, "seq": seq, "key_hash": key_hash, "taken": count, "at": at}
        for key_hash, count in taken])


@cache
def _others():
    return (select(R.c.node, R.c.seq, R.c.key_hash, R.c.taken)
            .where(R.c.at > bindparam("since"), R.c.node != bindparam("node")))


def others(tx: "Tx", node: str, since: float) -> list:
    """(node, seq, key_hash, taken) written by the other nodes after ``since``."""
    return tx.all(_others(), {"node": node, "since": since})


@cache
def _prune():
    return delete(R).where(R.c.at < bindparam("before"))


def prune(tx: "Tx", before: float) -> int:
    return tx.execute(_prune(), {"before": before})
