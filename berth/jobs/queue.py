"""The job queue: enqueue work, claim it under a lease, renew the lease, record the outcome.

Delivery is at least once: a node that dies mid-job loses its lease and another node runs the
job again, so handlers must be idempotent. Failures retry with capped exponential backoff and
jitter until ``max_attempts`` claims were spent; then the job is failed, its last error kept.
Times are wall-clock seconds compared across nodes: nodes' clocks must agree to well within
a lease."""
from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ..observability import metrics
from ..storage.metadata import jobs
from ..storage.metadata.database import Database, Tx

log = logging.getLogger("berth.jobs")

DONE_RETENTION = 24 * 3600.0  # finished jobs are kept a while for inspection (and dedup)
FAILED_RETENTION = 7 * 24 * 3600.0
PRUNE_BATCH = 1000
MAX_ERROR = 500


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds: ``attempt`` (1 for the first claim) fences the claim."""
    id: str
    kind: str
    payload: dict
    attempt: int
    max_attempts: int


def retry_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff after failed attempt ``attempt``, capped, with equal jitter (half
    fixed, half random) so that jobs that failed together do not retry in lockstep."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + rand() * delay / 2


def error_text(exc: BaseException) -> str:
    """What is kept of a failure: the exception's type and first line, cut short."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:MAX_ERROR]


class JobQueue:
    def __init__(self, db: Database, backoff_base: float = 5.0, backoff_cap: float = 900.0,
                 rand: Callable[[], float] = random.random):
        self.db = db
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rand = rand

    def enqueue(self, kind: str, payload: dict[str, Any] | None = None, *,
                key: str | None = None, run_at: float | None = None, max_attempts: int = 5,
                tx: Tx | None = None, now: float | None = None) -> str | None:
        """Queue a job (in the caller's transaction ``tx`` if given, so that it commits with
        the change that asked for it). Returns its id, or None if ``key`` was used already."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        now = time.time() if now is None else now
        job_id = uuid.uuid4().hex
        with _in(self.db, tx) as t:
            added = jobs.enqueue(t, job_id, kind, json.dumps(payload or {}),
                                 now if run_at is None else run_at, max_attempts, key, now)
        return job_id if added else None

    def claim(self, worker: str, kinds: list[str], limit: int, lease: float,
              now: float | None = None) -> list[Claimed]:
        """Up to ``limit`` due jobs of these kinds, each held by ``worker`` for ``lease``
        seconds unless renewed."""
        now = time.time() if now is None else now
        if not kinds or limit < 1:
            return []
        with self.db.read() as tx:
            if not jobs.claimable(tx, kinds, now):
                return []
        with self.db.write() as tx:
            rows, spent = jobs.claim(tx, worker, kinds, now, lease, limit)
        for row in spent:
            log.error("job %s (%s) failed: %s died on its last attempt", row.id, row.kind,
                      row.claimed_by)
        for row in rows:
            metrics.job_claimed(row.kind, now - row.run_at if row.state == jobs.QUEUED else None)
            if row.state == jobs.RUNNING:
                log.warning("job %s (%s): %s stopped renewing its lease; claimed again",
                            row.id, row.kind, row.claimed_by)
        return [Claimed(r.id, r.kind, json.loads(r.payload), r.attempts, r.max_attempts)
                for r in rows]

    def renew(self, worker: str, held: list[Claimed], lease: float,
              now: float | None = None) -> set[str]:
        """Extend the leases of jobs ``worker`` holds; returns the ids it still holds."""
        until = (time.time() if now is None else now) + lease
        with self.db.write(durable=False) as tx:  # a lost renewal only shortens a lease
            return {job.id for job in held if jobs.renew(tx, job.id, worker, job.attempt, until)}

    def complete(self, worker: str, job: Claimed, now: float | None = None) -> bool:
        """Mark done; False if the claim was lost (another node took the job over)."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            return jobs.done(tx, job.id, worker, job.attempt, now)

    def release(self, worker: str, job: Claimed, now: float | None = None) -> bool:
        """Hand a job back, due now, its attempt not spent (its node is stopping); False if
        the claim was lost."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            return jobs.release(tx, job.id, worker, job.attempt, now)

    def fail(self, worker: str, job: Claimed, error: str, now: float | None = None) -> bool:
        """Retry after a backoff, or fail for good once the attempts are spent; False if the
        claim was lost."""
        now = time.time() if now is None else now
        error = error[:MAX_ERROR]
        with self.db.write() as tx:
            if job.attempt >= job.max_attempts:
                return jobs.fail(tx, job.id, worker, job.attempt, now, error)
            retry_at = now + retry_delay(job.attempt, self.backoff_base, self.backoff_cap,
                                         self.rand)
            return jobs.retry(tx, job.id, worker, job.attempt, retry_at, error)

    def prune(self, now: float | None = None) -> int:
        """Delete finished jobs past their retention, a batch per transaction."""
        now = time.time() if now is None else now
        total = 0
        while True:
            with self.db.write() as tx:
                count = jobs.prune(tx, now - DONE_RETENTION, now - FAILED_RETENTION,
                                   PRUNE_BATCH)
            total += count
            if count < PRUNE_BATCH:
                return total

    def queued(self) -> dict[str, int]:
        with self.db.read() as tx:
            return jobs.queued(tx)

    def get(self, job_id: str):
        with self.db.read() as tx:
            return jobs.get(tx, job_id)


def _in(db: Database, tx: Tx | None):
    return contextlib.nullcontext(tx) if tx is not None else db.write()
