"""Reading the outbox: each subscriber moves its own cursor, in the same transaction as what
it does with the events, so a crash or a second node neither skips nor repeats its effects
in the database (effects outside it, such as a webhook, happen at least once)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from ..storage.metadata import events as rows
from ..storage.metadata.database import Database, Tx
from .model import Event

log = logging.getLogger("berth.events")

BATCH = 500
RETENTION_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Subscriber:
    """``handle(tx, events)`` runs inside the transaction that moves the cursor past them.
    A subscriber added to a deployment with history starts at the current end unless
    ``from_start``."""
    name: str
    handle: Callable[[Tx, list[Event]], None]
    from_start: bool = False


class Outbox:
    def __init__(self, db: Database, batch: int = BATCH):
        self.db = db
        self.batch = batch

    def deliver(self, subscriber: Subscriber, limit: int | None = None,
                stop: Callable[[], bool] = lambda: False) -> int:
        """Hand the subscriber the events after its cursor, a batch per transaction, until
        none are left (or ``limit`` were handled, or ``stop()``); returns how many."""
        handled = 0
        while (limit is None or handled < limit) and not stop():
            count = self._deliver_batch(subscriber)
            handled += count
            if count < self.batch:
                return handled
        return handled

    def _deliver_batch(self, subscriber: Subscriber) -> int:
        with self.db.read() as tx:  # most polls find nothing: no write for them
            known = rows.positions(tx).get(subscriber.name)
            if known is not None and known >= rows.last_id(tx):
                return 0
        # Not waiting for the disk: a power loss can only take the cursor back with the
        # effects (the events themselves were durable), and they are delivered again.
        with self.db.write(durable=False) as tx:
            start = 0 if subscriber.from_start else rows.last_id(tx)
            position = rows.cursor(tx, subscriber.name, lock=True, start=start)
            if position is None:  # another node delivers to it now: nothing to do here
                return 0
            batch = [Event.from_row(r) for r in rows.after(tx, position, self.batch)]
            if batch:
                subscriber.handle(tx, batch)
                rows.move(tx, subscriber.name, batch[-1].id)
        return len(batch)

    def behind(self, subscribers: list[str]) -> list[str]:
        """The subscribers with events after their cursor, or with no cursor yet."""
        with self.db.read() as tx:
            last = rows.last_id(tx)
            known = rows.positions(tx)
        return [name for name in subscribers if known.get(name, -1) < last]

    def read(self, after: int = 0, limit: int = BATCH) -> list[Event]:
        with self.db.read() as tx:
            return [Event.from_row(r) for r in rows.after(tx, after, limit)]

    def backlog(self, subscriber: str) -> int:
        """Events after the subscriber's cursor (for the metrics)."""
        with self.db.read() as tx:
            last = rows.last_id(tx)
            return last - rows.positions(tx).get(subscriber, last)

    def positions(self) -> dict[str, int]:
        with self.db.read() as tx:
            return rows.positions(tx)

    def prune(self, subscribers: list[str], retention: float = RETENTION_SECONDS,
              now: float | None = None) -> int:
        """Delete events older than ``retention`` that every subscriber has handled."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            known = rows.positions(tx)
            upto = min((known.get(name, 0) for name in subscribers), default=rows.last_id(tx))
            return rows.prune(tx, upto, now - retention)
