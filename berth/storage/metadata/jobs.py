"""The job queue's rows: enqueue, claim, renew, finish, prune.

A claim locks its candidate rows with FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent
claimers pass over each other's rows instead of waiting or taking the same one; on SQLite the
write transaction (BEGIN IMMEDIATE) serialises claimers and the clause compiles to nothing.
Every claim adds one to ``attempts``; (id, claimed_by, attempts) then fences the claim: a
holder whose lease lapsed and was taken over can no longer renew or finish the job."""
from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, delete, func, or_, select, update

from .database import Tx
from .schema import jobs
from .statements import in_list, insert, list_param

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"

_ID = jobs.c.id == bindparam("id")
# The caller's claim is still the job's current one.
_HELD = and_(_ID, jobs.c.state == RUNNING, jobs.c.claimed_by == bindparam("worker"),
             jobs.c.attempts == bindparam("attempt"))


@cache
def _enqueue(dialect: str):
    return insert(dialect, jobs, "id", "kind", "dedup_key", "payload", "state", "run_at",
                  "attempts", "max_attempts", "created_at").on_conflict_do_nothing(
        index_elements=["dedup_key"])


@cache
def _candidates(lock: bool):
    """Due queued jobs, and running jobs whose holder stopped renewing its lease."""
    due = or_(and_(jobs.c.state == QUEUED, jobs.c.run_at <= bindparam("now")),
              and_(jobs.c.state == RUNNING, jobs.c.lease_until < bindparam("now")))
    stmt = (select(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.state, jobs.c.attempts,
                   jobs.c.max_attempts, jobs.c.claimed_by, jobs.c.run_at)
            .where(in_list(jobs.c.kind, "kinds"), due)
            .order_by(jobs.c.run_at).limit(bindparam("limit")))
    return stmt.with_for_update(skip_locked=True) if lock else stmt


@cache
def _take():
    return update(jobs).where(_ID).values(
        state=RUNNING, attempts=jobs.c.attempts + 1, claimed_by=bindparam("worker"),
        lease_until=bindparam("until"))


@cache
def _renew():
    return update(jobs).where(_HELD).values(lease_until=bindparam("until"))


@cache
def _done():
    return update(jobs).where(_HELD).values(state=DONE, finished_at=bindparam("now"),
                                            lease_until=None)


@cache
def _retry():
    return update(jobs).where(_HELD).values(
        state=QUEUED, run_at=bindparam("retry_at"), claimed_by=None, lease_until=None,
        last_error=bindparam("error"))


@cache
def _release():
    # The claim gives its attempt back: a job a stopping node hands over is not a failure.
    return update(jobs).where(_HELD).values(
        state=QUEUED, run_at=bindparam("now"), claimed_by=None, lease_until=None,
        attempts=jobs.c.attempts - 1)


@cache
def _fail(fenced: bool):
    return update(jobs).where(_HELD if fenced else _ID).values(
        state=FAILED, finished_at=bindparam("now"), lease_until=None,
        last_error=bindparam("error"))


@cache
def _prune():
    old = or_(and_(jobs.c.state == DONE, jobs.c.finished_at < bindparam("done_before")),
              and_(jobs.c.state == FAILED, jobs.c.finished_at < bindparam("failed_before")))
    return delete(jobs).where(jobs.c.id.in_(select(jobs.c.id).where(old)
                                            .limit(bindparam("limit"))))


@cache
def _get():
    return select(*jobs.c).where(_ID)


def enqueue(tx: Tx, job_id: str, kind: str, payload: str, run_at: float, max_attempts: int,
            dedup_key: str | None, now: float) -> bool:
    """False if a job with this dedup key exists already (whatever its state)."""
    tx.queued_work = True
    return tx.execute(_enqueue(tx.dialect_name), {
        "id": job_id, "kind": kind, "dedup_key": dedup_key, "payload": payload,
        "state": QUEUED, "run_at": run_at, "attempts": 0, "max_attempts": max_attempts,
        "created_at": now}) == 1


def claimable(tx: Tx, kinds: list[str], now: float) -> bool:
    """Whether a claim would find anything (a read, so idle pollers take no write lock)."""
    return tx.first(_candidates(False), {"now": now, "limit": 1,
                                         "kinds": list_param(kinds)}) is not None


def claim(tx: Tx, worker: str, kinds: list[str], now: float, lease: float, limit: int) -> tuple[
        list, list]:
    """Claim up to ``limit`` due jobs of these kinds. Returns (claimed rows, with attempts
    counting this claim; rows of lapsed claims that had no attempts left, now failed)."""
    rows = tx.all(_candidates(True), {"now": now, "limit": limit, "kinds": list_param(kinds)})
    claimed, spent = [], []
    for row in rows:
        if row.attempts >= row.max_attempts:  # its last attempt's node died mid-run
            tx.execute(_fail(False), {"id": row.id, "now": now,
                                      "error": "lease lapsed on the last attempt"})
            spent.append(row)
            continue
        tx.execute(_take(), {"id": row.id, "worker": worker, "until": now + lease})
        claimed.append(row._replace(attempts=row.attempts + 1))
    return claimed, spent


@cache
def _queued():
    return (select(jobs.c.kind, func.count().label("waiting")).where(jobs.c.state == QUEUED)
            .group_by(jobs.c.kind))


def queued(tx: Tx) -> dict[str, int]:
    """Jobs waiting, by kind (for the metrics)."""
    return dict(tx.all(_queued()))


def renew(tx: Tx, job_id: str, worker: str, attempt: int, until: float) -> bool:
    return tx.execute(_renew(), {"id": job_id, "worker": worker, "attempt": attempt,
                                 "until": until}) == 1


def done(tx: Tx, job_id: str, worker: str, attempt: int, now: float) -> bool:
    return tx.execute(_done(), {"id": job_id, "worker": worker, "attempt": attempt,
                                "now": now}) == 1


def retry(tx: Tx, job_id: str, worker: str, attempt: int, retry_at: float, error: str) -> bool:
    return tx.execute(_retry(), {"id": job_id, "worker": worker, "attempt": attempt,
                                 "retry_at": retry_at, "error": error}) == 1


def release(tx: Tx, job_id: str, worker: str, attempt: int, now: float) -> bool:
    return tx.execute(_release(), {"id": job_id, "worker": worker, "attempt": attempt,
                                   "now": now}) == 1


def fail(tx: Tx, job_id: str, worker: str, attempt: int, now: float, error: str) -> bool:
    return tx.execute(_fail(True), {"id": job_id, "worker": worker, "attempt": attempt,
                                    "now": now, "error": error}) == 1


def prune(tx: Tx, done_before: float, failed_before: float, limit: int) -> int:
    return tx.execute(_prune(), {"done_before": done_before, "failed_before": failed_before,
                                 "limit": limit})


def get(tx: Tx, job_id: str):
    return tx.first(_get(), {"id": job_id})

