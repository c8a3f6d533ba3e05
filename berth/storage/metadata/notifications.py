"""Rows of event notifications (berth/notifications): webhook targets per account, and one
delivery per event and target, queued in ``seq`` order (the order their events committed).
The tables are declared here, on the shared metadata, beside the statements that use them."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    select,
    update,
)

from .schema import _name, metadata, registries
from .statements import in_list, insert, list_param

if TYPE_CHECKING:
    from .database import Tx

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

notification_targets = Table(
    "notification_targets", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("pattern", Text, nullable=False),  # JSON: an EventBridge event pattern
    Column("secret", LargeBinary),  # the HMAC key, sealed with the master key
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("account_id", "name"),
)

notification_deliveries = Table(
    "notification_deliveries", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),  # the delivery id receivers see
    Column("target_id", String(32), ForeignKey("notification_targets.id", ondelete="CASCADE"),
           nullable=False),
    Column("repository", _name(256), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("body", Text, nullable=False),  # the envelope, as sent
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", String(500)),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_notification_deliveries_queue", "target_id", "state", "seq"),
    sqlite_autoincrement=True,
)

T, D = notification_targets, notification_deliveries
_TARGET_COLUMNS = (T.c.id, T.c.account_id, T.c.name, T.c.url, T.c.pattern, T.c.secret,
                   T.c.created_at, T.c.updated_at)
_DELIVERY_COLUMNS = (D.c.seq, D.c.id, D.c.target_id, D.c.repository, D.c.event_id, D.c.body,
                     D.c.state, D.c.attempts, D.c.next_attempt_at, D.c.last_error,
                     D.c.created_at, D.c.finished_at)


# -- targets --------------------------------------------------------------------------------
@cache
def _insert_target(dialect: str):
    return insert(dialect, T, "id", "account_id", "name", "url", "pattern", "secret",
                  "created_at", "updated_at")


@cache
def _update_target():
    return update(T).where(T.c.id == bindparam("id")).values(
        url=bindparam("url"), pattern=bindparam("pattern"), secret=bindparam("secret"),
        updated_at=bindparam("updated_at"))


@cache
def _targets(by_account: bool, by_name: bool):
    query = select(*_TARGET_COLUMNS).order_by(T.c.account_id, T.c.name)
    if by_account:
        query = query.where(T.c.account_id == bindparam("account"))
    if by_name:
        query = query.where(T.c.name == bindparam("name"))
    return query


def targets(tx: "Tx", account: str | None = None, name: str | None = None) -> list:
    return tx.all(_targets(account is not None, name is not None),
                  {"account": account, "name": name})


def insert_target(tx: "Tx", row: dict) -> None:
    tx.execute(_insert_target(tx.dialect_name), row)


def update_target(tx: "Tx", row: dict) -> None:
    tx.execute(_update_target(), row)


@cache
def _delete_target():
    return delete(T).where(T.c.account_id == bindparam("account"), T.c.name == bindparam("name"))


@cache
def _delete_target_deliveries():
    return delete(D).where(D.c.target_id == bindparam("target"))


def delete_target(tx: "Tx", target_id: str, account: str, name: str) -> None:
    tx.execute(_delete_target_deliveries(), {"target": target_id})
    tx.execute(_delete_target(), {"account": account, "name": name})


@cache
def _registry():
    return select(registries.c.account_id, registries.c.region).where(
        registries.c.id == bindparam("id"))


def registry_address(tx: "Tx", registry_id: int) -> tuple[str, str] | None:
    row = tx.first(_registry(), {"id": registry_id})
    return None if row is None else (row.account_id, row.region)


# -- deliveries -----------------------------------------------------------------------------
@cache
def _insert_delivery(dialect: str):
    return insert(dialect, D, "id", "target_id", "repository", "event_id", "body", "state",
                  "attempts", "next_attempt_at", "created_at")


def add_deliveries(tx: "Tx", rows: list[dict]) -> None:
    if rows:
        tx.queued_work = True  # job runners look for them once this commits
        tx.executemany(_insert_delivery(tx.dialect_name), rows)


@cache
def _due_targets():
    # Per target, a search of its queue index that stops at its first due row: delivered
    # rows are kept a day, and a scan of them all on every look would grow with the traffic.
    due = (select(D.c.seq).where(D.c.target_id == T.c.id, D.c.state == PENDING,
                                 D.c.next_attempt_at <= bindparam("now")).exists())
    return select(T.c.id).where(due)


def due_targets(tx: "Tx", now: float) -> list[str]:
    return tx.scalars(_due_targets(), {"now": now})


@cache
def _pending():
    return (select(*_DELIVERY_COLUMNS)
            .where(D.c.target_id == bindparam("target"), D.c.state == PENDING,
                   D.c.seq > bindparam("after"), ~in_list(D.c.repository, "skip"))
            .order_by(D.c.seq).limit(bindparam("limit")))


def pending(tx: "Tx", target_id: str, limit: int, after: int = 0,
            skip: Iterable[str] = ()) -> list:
    """The target's pending deliveries (due or waiting for a retry), oldest first, from
    after ``after`` (a seq), but those of the repositories in ``skip``."""
    return tx.all(_pending(), {"target": target_id, "limit": limit, "after": after,
                               "skip": list_param(sorted(skip))})


@cache
def _finish():
    return update(D).where(D.c.id == bindparam("id"), D.c.state == PENDING).values(
        state=bindparam("state"), attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"), last_error=bindparam("error"),
        finished_at=bindparam("finished_at"))


def record(tx: "Tx", delivery_id: str, state: str, attempts: int, next_attempt_at: float,
           error: str | None, finished_at: float | None) -> int:
    """The outcome of an attempt: delivered, dead, or pending again until ``next_attempt_at``."""
    return tx.execute(_finish(), {"id": delivery_id, "state": state, "attempts": attempts,
                                  "next_attempt_at": next_attempt_at, "error": error,
                                  "finished_at": finished_at})


@cache
def _listed(by_target: bool, by_state: bool):
    query = (select(*_DELIVERY_COLUMNS, T.c.name.label("target_name"))
             .join(T, T.c.id == D.c.target_id)
             .where(T.c.account_id == bindparam("account"))
             .order_by(D.c.seq.desc()).limit(bindparam("limit")))
    if by_target:
        query = query.where(T.c.name == bindparam("name"))
    if by_state:
        query = query.where(D.c.state == bindparam("state"))
    return query


def listed(tx: "Tx", account: str, target: str | None, state: str | None, limit: int) -> list:
    return tx.all(_listed(target is not None, state is not None),
                  {"account": account, "name": target, "state": state, "limit": limit})


@cache
def _replay():
    return update(D).where(D.c.id == bindparam("id"), D.c.state == DEAD).values(
        state=PENDING, attempts=0, next_attempt_at=bindparam("now"), finished_at=None)


def replay(tx: "Tx", delivery_ids: list[str], now: float) -> int:
    tx.queued_work = True
    return sum(tx.execute(_replay(), {"id": i, "now": now}) for i in delivery_ids)


@cache
def _prune():
    return delete(D).where(D.c.state == DELIVERED, D.c.finished_at < bindparam("before"))


def prune(tx: "Tx", before: float) -> int:
    """Delete deliveries that succeeded before ``before`` (dead ones stay until replayed or
    their target goes)."""
    return tx.execute(_prune(), {"before": before})
