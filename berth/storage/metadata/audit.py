"""Rows of the audit trail (berth/audit): one per recorded event, CloudTrail's fields, looked
up by time range and event name, principal or resource. Declared here, on the shared
metadata, beside the statements that use them."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
)

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

audit_events = Table(
    "audit_events", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_id", String(36), nullable=False),  # a UUID: unique by making
    Column("time", Float, nullable=False),
    Column("account_id", String(12), nullable=False),  # the registry's account
    Column("region", String(32), nullable=False),
    Column("source", String(64), nullable=False),       # ecr.amazonaws.com, berth.admin
    Column("name", String(64), nullable=False),         # PutImage, PolicyExecutionEvent, ...
    Column("read_only", Boolean, nullable=False),
    Column("principal_arn", String(256), nullable=False),  # "" when anonymous
    Column("source_ip", String(64), nullable=False),
    Column("user_agent", String(256), nullable=False),
    Column("resource", String(512), nullable=False),  # the repository's ARN, or ""
    Column("parameters", Text),                       # JSON, secrets left out
    Column("error_code", String(64)),
    Column("request_id", String(128), nullable=False),
    Index("ix_audit_events_time", "time"),
    Index("ix_audit_events_name", "name", "time"),
    Index("ix_audit_events_principal", "principal_arn", "time"),
    Index("ix_audit_events_resource", "resource", "time"),
    sqlite_autoincrement=True,
)

A = audit_events
COLUMNS = ("event_id", "time", "account_id", "region", "source", "name", "read_only",
           "principal_arn", "source_ip", "user_agent", "resource", "parameters", "error_code",
           "request_id")
FILTERS = ("name", "principal_arn", "resource", "account_id")


@cache
def _insert(dialect: str):
    return insert(dialect, A, *COLUMNS)


def add(tx: "Tx", rows: list[dict]) -> None:
    if rows:
        tx.executemany(_insert(tx.dialect_name), rows)


@cache
def _lookup(filters: tuple[str, ...]):
    query = (select(A).where(A.c.time >= bindparam("start"), A.c.time < bindparam("end"),
                             A.c.seq < bindparam("before"))
             .order_by(A.c.seq.desc()).limit(bindparam("limit")))
    for name in filters:
        query = query.where(A.c[name] == bindparam(name))
    return query


def lookup(tx: "Tx", start: float, end: float, before: int, limit: int,
           **equal: str) -> list:
    """Newest first: events in [start, end) older than ``before`` (a seq), with the given
    column values (any of FILTERS)."""
    filters = tuple(sorted(k for k, v in equal.items() if v is not None))
    return tx.all(_lookup(filters), {"start": start, "end": end, "before": before,
                                     "limit": limit, **{k: equal[k] for k in filters}})


@cache
def _prune():
    return delete(A).where(A.c.time < bindparam("before"))


def prune(tx: "Tx", before: float) -> int:
    return tx.execute(_prune(), {"before": before})
