"""Sending deliveries: POST each envelope to its target, at least once, in order per (target,
repository): a repository's next delivery waits until the one before it succeeded or was
dead-lettered. A failed attempt is retried after an exponential backoff with jitter; after
``max_attempts`` it is dead (kept for ``berth admin events deliveries``, replayable).

Each target is worked by one runner at a time across processes and nodes (a named lock), so
attempts of one target never overlap or reorder; different targets run side by side."""
from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

from ..jobs.queue import retry_delay
from ..storage.metadata import notifications as rows
from ..storage.metadata.database import Database
from .models import Delivery
from .sender import DeliveryFailed, Sender
from .services import TargetService

log = logging.getLogger("berth.notifications")

USER_AGENT = "Berth-Notifications/1"
SIGNATURE_HEADER = "X-Berth-Signature-256"
DELIVERY_HEADER = "X-Berth-Delivery"
EVENT_HEADER = "X-Berth-Event-Id"
BATCH = 500
RUN_SECONDS = 30.0  # a run gives its target's lock back this often
# How long a run waits for a target another runner holds (it may be finishing its last pass,
# too late to see the delivery this run was started for).
LOCK_WAIT_SECONDS = 0.5


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>`` (GitHub's webhook convention)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def headers_for(delivery: Delivery, body: bytes, secret: bytes | None) -> dict[str, str]:
    found = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
             DELIVERY_HEADER: delivery.id, EVENT_HEADER: delivery.event_id}
    if secret is not None:
        found[SIGNATURE_HEADER] = signature(secret, body)
    return found


@dataclass
class Backoff:
    base: float = 5.0
    cap: float = 3600.0
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds before the attempt after failed attempt ``attempt`` (1 for the first)."""
        return retry_delay(attempt, self.base, self.cap, self.rand)


class Deliverer:
    def __init__(self, db: Database, targets: TargetService, sender: Sender,
                 max_attempts: int, backoff: Backoff, clock: Callable[[], float] = time.time):
        if max_attempts < 1:
            raise ValueError("notification_max_attempts must be at least 1")
        self.db = db
        self.targets = targets
        self.sender = sender
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.clock = clock

    def due_targets(self) -> list[str]:
        with self.db.read() as tx:
            return rows.due_targets(tx, self.clock())

    def run(self, target_id: str, stopping: Callable[[], bool] = lambda: False,
            run_seconds: float = RUN_SECONDS) -> int | None:
        """Send the target's due deliveries while its lock is ours; returns how many
        attempts were made (None if another runner kept the target meanwhile)."""
        waited = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            with self.db.try_lock(f"notifications:{target_id}") as held:
                if held:
                    return self._run_held(target_id, stopping, run_seconds)
            if time.monotonic() >= waited or stopping():
                return None
            time.sleep(0.02)

    def _run_held(self, target_id: str, stopping: Callable[[], bool], run_seconds: float
                  ) -> int:
        target = self._target(target_id)
        if target is None:
            return 0
        url, secret = target
        deadline = self.clock() + run_seconds
        outcomes = Outcomes(self)
        try:
            while self.clock() < deadline and not stopping():
                if not self._pass(target_id, url, secret, outcomes, stopping):
                    break
        finally:
            outcomes.flush()
        return outcomes.made

    def _target(self, target_id: str) -> tuple[str, bytes | None] | None:
        with self.db.read() as tx:
            found = [t for t in rows.targets(tx) if t.id == target_id]
        if not found:
            return None
        return found[0].url, self.targets.secret(target_id, found[0].secret)

    def _pass(self, target_id: str, url: str, secret: bytes | None, outcomes: "Outcomes",
              stopping: Callable[[], bool]) -> bool:
        """One walk of the queue in order, a page at a time; whether another pass may find
        more. A repository whose head is waiting or just failed is skipped whole, and its
        rows are left out of the pages after: however many it has, the other repositories'
        deliveries behind them are reached. Deliveries sent in this run whose outcomes are
        not written yet are still pending in the pages: they are passed over."""
        blocked: set[str] = set()
        made = outcomes.made
        after = 0
        while not stopping():
            with self.db.read() as tx:
                page = [Delivery.from_row(r)
                        for r in rows.pending(tx, target_id, BATCH, after, blocked)]
            if not self._walk(url, secret, page, blocked, outcomes, stopping):
                return False
            if len(page) < BATCH:
                break
            after = page[-1].seq
        return outcomes.made > made

    def _walk(self, url: str, secret: bytes | None, page: list[Delivery], blocked: set[str],
              outcomes: "Outcomes", stopping: Callable[[], bool]) -> bool:
        """Send a page's due deliveries in order; False once the target proved unreachable."""
        for delivery in page:
            if delivery.repository in blocked or delivery.id in outcomes.sent or stopping():
                continue
            if delivery.next_attempt_at > self.clock():
                blocked.add(delivery.repository)
                continue
            failure = self.send(url, secret, delivery)
            outcomes.add(delivery, failure)
            if failure is not None:
                blocked.add(delivery.repository)
                if failure.unreachable:
                    return False
        return True

    def send(self, url: str, secret: bytes | None, delivery: Delivery) -> DeliveryFailed | None:
        """One POST of the delivery: None if it succeeded."""
        body = delivery.body.encode()
        try:
            self.sender.post(url, body, headers_for(delivery, body, secret))
        except DeliveryFailed as exc:
            return exc
        return None

    def record(self, tx, delivery: Delivery, failure: DeliveryFailed | None) -> None:
        now = self.clock()
        attempts = delivery.attempts + 1
        if failure is None:
            rows.record(tx, delivery.id, rows.DELIVERED, attempts, now, None, now)
        elif attempts >= self.max_attempts:
            rows.record(tx, delivery.id, rows.DEAD, attempts, now, str(failure), now)
            log.warning("notification %s to target %s dead after %d attempts: %s",
                        delivery.id, delivery.target_id, attempts, failure)
        else:
            rows.record(tx, delivery.id, rows.PENDING, attempts,
                        now + self.backoff.delay(attempts), str(failure), None)


class Outcomes:
    """A run's attempts' outcomes, written a batch per transaction without waiting for the
    disk (every EVERY attempts or SECONDS, at a failure, and when the run ends; not per
    pass, which under a steady stream of pushes finds one or two each): one commit per
    delivery would take the database's write lock from pushes hundreds of times a second.
    An outcome lost to a crash only means the delivery is sent again (at least once;
    receivers dedupe by delivery id)."""

    EVERY = 100
    SECONDS = 0.5

    def __init__(self, deliverer: Deliverer):
        self.deliverer = deliverer
        self.pending: list[tuple[Delivery, DeliveryFailed | None]] = []
        self.sent: set[str] = set()  # the ids in pending
        self.made = 0
        self.since = time.monotonic()

    def add(self, delivery: Delivery, failure: DeliveryFailed | None) -> None:
        self.pending.append((delivery, failure))
        self.sent.add(delivery.id)
        self.made += 1
        if (failure is not None or len(self.pending) >= self.EVERY
                or time.monotonic() - self.since >= self.SECONDS):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.deliverer.db.write(durable=False) as tx:
                for delivery, failure in self.pending:
                    self.deliverer.record(tx, delivery, failure)
            self.pending = []
            self.sent = set()
        self.since = time.monotonic()
