"""Notifications as background work: work on demand (``jobs.watch``: whenever a target has due
deliveries this process is not sending already) hands each such target to a small pool of
threads of this process and returns at once, so a dead target (each attempt
waiting out its timeout) holds one pool thread, never the job runner or the other targets.
Deliveries that succeeded are pruned after a day; dead ones stay until replayed."""
from __future__ import annotations

import logging
import os
import queue
import threading
import time

from ..config import Settings
from ..jobs.runner import JobContext, JobRunner
from ..jobs.watch import Watch
from ..keys.master import MasterKey
from ..storage.metadata import notifications as rows
from ..storage.metadata.database import Database
from .delivery import Backoff, Deliverer
from .sender import Sender
from .services import TargetService

log = logging.getLogger("berth.notifications")

DELIVER = "notifications-deliver"
PRUNE = "notifications-prune"
CONCURRENCY = 4  # targets sent to at once per process
# A target whose run sent nothing (its deliveries wait for a retry: a dead target; or another
# runner kept it) is left alone this long, or every new delivery would have it walk its whole
# queue again.
QUIET_SECONDS = 1.0
# A target runs at most this often in a process, and its dispatch looks as often: what comes
# due meanwhile goes out together (a read of the queue and a write of the outcomes for many
# deliveries, not for each push's one), a quarter of a second later at most.
MIN_RUN_SECONDS = 0.25
DELIVERED_RETENTION = 24 * 3600.0
NICE = 10  # added to the delivery threads' nice value


class Dispatcher:
    """Runs targets on daemon threads (a process that stops drops what it was sending: the
    delivery stays pending and is sent again, at least once); a target is queued here at
    most once."""

    def __init__(self, deliverer: Deliverer, concurrency: int = CONCURRENCY,
                 clock=time.monotonic):
        self.deliverer = deliverer
        self.concurrency = concurrency
        self.clock = clock
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._queued: set[str] = set()
        self._quiet: dict[str, float] = {}  # target -> left alone until
        self._looked: list[str] | None = None  # what the last look found, for its dispatch
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def dispatch(self, job: JobContext | None = None) -> int:
        """Queue the targets with due deliveries that are not queued already (those the look
        that started this dispatch found, rather than asking the database again)."""
        with self._lock:
            due, self._looked = self._looked, None
        if due is None:
            due = self.deliverer.due_targets()
        self._start()
        added = 0
        with self._lock:
            for target_id in self._waiting(due):
                self._queued.add(target_id)
                self._queue.put(target_id)
                added += 1
        return added

    def new(self, due: list[str]) -> bool:
        """Whether any of these targets is neither queued here already nor left alone (what
        comes due while a target runs is found by a look after its run)."""
        with self._lock:
            waiting = bool(self._waiting(due))
            self._looked = due if waiting else None
            return waiting

    def _waiting(self, due: list[str]) -> list[str]:
        now = self.clock()
        return [t for t in due if t not in self._queued and self._quiet.get(t, 0.0) <= now]

    def idle(self) -> bool:
        with self._lock:
            return not self._queued

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.concurrency:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"notifications-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        _lower_priority()
        while True:
            target_id = self._queue.get()
            started, sent = self.clock(), None
            try:
                sent = self.deliverer.run(target_id)
            except Exception:  # e.g. the database is unreachable: the next dispatch retries
                log.exception("notifications to target %s failed", target_id)
            finally:
                with self._lock:
                    if sent:
                        self._quiet[target_id] = started + MIN_RUN_SECONDS
                    else:  # nothing due but deliveries waiting, or another runner has it
                        self._quiet[target_id] = self.clock() + QUIET_SECONDS
                    self._queued.discard(target_id)


def _lower_priority() -> None:
    """Deliveries yield the CPU to requests: on Linux a thread has a nice value of its own."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass


def deliverer(db: Database, master: MasterKey, settings: Settings) -> Deliverer:
    return Deliverer(db, TargetService(db, master),
                     Sender(float(settings.notification_timeout_seconds)),
                     settings.notification_max_attempts,
                     Backoff(base=float(settings.notification_backoff_seconds)))


def schedule_notifications(runner: JobRunner, db: Database, settings: Settings) -> Dispatcher:
    master = MasterKey.load(settings.master_key, settings.master_key_path, create=False)
    dispatcher = Dispatcher(deliverer(db, master, settings))

    def pending() -> list[str]:
        return [DELIVER] if dispatcher.new(dispatcher.deliverer.due_targets()) else []
    runner.watch(Watch(pending, {DELIVER: dispatcher.dispatch},
                       look=settings.event_delivery_seconds,
                       gap=min(MIN_RUN_SECONDS, settings.event_delivery_seconds)))
    runner.every(3600, PRUNE, lambda job: _prune(db))
    return dispatcher


def _prune(db: Database) -> int:
    with db.write() as tx:
        return rows.prune(tx, time.time() - DELIVERED_RETENTION)
