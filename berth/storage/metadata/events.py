"""The outbox's rows: events appended with the change that caused them, read on in id order
by subscribers that keep their position in ``event_cursors``.

Ids follow commit order: SQLite serialises writers anyway; on PostgreSQL the appends of a
transaction happen at its end under a transaction-scoped advisory lock (``flush``), so a
transaction that takes a smaller id has committed before a larger one becomes visible and a
reader never passes an event that commits later."""
from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, func, select, update

from .schema import event_cursors, events
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

OUTBOX_LOCK = 0x6F7574626F78  # "outbox"


@cache
def _append(dialect: str):
    return insert(dialect, events, "kind", "registry_id", "repository", "payload",
                  "created_at")


def flush(tx: "Tx", rows: list[dict]) -> None:
    """Append a transaction's events (called just before its commit)."""
    tx.serialise(OUTBOX_LOCK)
    tx.executemany(_append(tx.dialect_name), rows)


@cache
def _after():
    return (select(events.c.id, events.c.kind, events.c.registry_id, events.c.repository,
                   events.c.payload, events.c.created_at)
            .where(events.c.id > bindparam("after")).order_by(events.c.id)
            .limit(bindparam("limit")))


def after(tx: "Tx", position: int, limit: int) -> list:
    return tx.all(_after(), {"after": position, "limit": limit})


@cache
def _last_id():
    return select(func.max(events.c.id).label("last"))


def last_id(tx: "Tx") -> int:
    return tx.scalar(_last_id()) or 0


@cache
def _cursor(lock: bool):
    query = select(event_cursors.c.position).where(
        event_cursors.c.subscriber == bindparam("subscriber"))
    return query.with_for_update(skip_locked=True) if lock else query


@cache
def _add_cursor(dialect: str):
    return insert(dialect, event_cursors, "subscriber", "position", "updated_at"
                  ).on_conflict_do_nothing(index_elements=["subscriber"])


def cursor(tx: "Tx", subscriber: str, lock: bool = False, start: int = 0) -> int | None:
    """The subscriber's position, made at ``start`` on first use; ``lock`` holds the row
    (PostgreSQL) so that one reader at a time moves it, and gives None at once if another
    holds it (SQLite's writers take turns anyway)."""
    tx.execute(_add_cursor(tx.dialect_name), {"subscriber": subscriber, "position": start,
                                              "updated_at": time.time()})
    return tx.scalar(_cursor(lock), {"subscriber": subscriber})


@cache
def _move():
    return update(event_cursors).where(
        event_cursors.c.subscriber == bindparam("subscriber")).values(
        position=bindparam("position"), updated_at=bindparam("now"))


def move(tx: "Tx", subscriber: str, position: int) -> None:
    tx.execute(_move(), {"subscriber": subscriber, "position": position, "now": time.time()})


@cache
def _positions():
    return select(event_cursors.c.subscriber, event_cursors.c.position)


def positions(tx: "Tx") -> dict[str, int]:
    return {row.subscriber: row.position for row in tx.all(_positions())}


@cache
def _prune():
    return delete(events).where(events.c.id <= bindparam("upto"),
                                events.c.created_at < bindparam("before"))


def prune(tx: "Tx", upto: int, before: float) -> int:
    """Delete events every subscriber has passed (ids up to ``upto``) older than ``before``."""
    return tx.execute(_prune(), {"upto": upto, "before": before})
