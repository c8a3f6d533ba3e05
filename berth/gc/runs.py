"""Garbage collection an operator starts, then asks about (the admin API's
StartGarbageCollection and GetGarbageCollection): a full sweep as a job that any node's job
runner or a ``berth worker`` takes, so no request waits for a walk of the whole storage.

A run's row is written with its job, in one transaction, and takes the sweep's report when
the sweep ends; until then the job's row says whether the run waits, runs or failed. A node
killed mid-sweep loses its lease and another runs the sweep again (sweeps are idempotent)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from ..jobs.queue import JobQueue
from ..storage.metadata import gc_runs as rows
from ..storage.metadata import jobs as job_rows
from ..storage.metadata.database import Database
from .collector import Report

if TYPE_CHECKING:
    from ..registry.registry import Registry

RUN = "gc-run"  # the job kind
QUEUED, RUNNING, COMPLETE, FAILED = "QUEUED", "RUNNING", "COMPLETE", "FAILED"
MAX_ATTEMPTS = 3
RETENTION_DAYS = 30  # a run is kept this long after it was started
RETENTION = RETENTION_DAYS * 24 * 3600.0
_STATUS = {job_rows.QUEUED: QUEUED, job_rows.RUNNING: RUNNING, job_rows.FAILED: FAILED}
_REPORT_FIELDS = {f.name for f in fields(Report)}


@dataclass(frozen=True)
class Run:
    id: str
    dry_run: bool
    status: str
    requested_at: float
    finished_at: float | None = None
    report: Report | None = None  # once COMPLETE
    failure: str | None = None    # why it FAILED


class Runs:
    def __init__(self, db: Database):
        self.db = db
        self.queue = JobQueue(db)

    def start(self, dry_run: bool, now: float | None = None) -> Run:
        """Queue a full sweep; runs older than RETENTION go meanwhile."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            rows.prune(tx, now - RETENTION)
            run_id = self.queue.enqueue(RUN, {"dryRun": dry_run}, max_attempts=MAX_ATTEMPTS,
                                        tx=tx, now=now)
            rows.add(tx, run_id, dry_run, now)
        return Run(run_id, dry_run, QUEUED, now)

    def get(self, run_id: str) -> Run | None:
        with self.db.read() as tx:
            # The job first: a report is recorded before its job is marked done, so a done
            # job read first means the row read next has the report (PostgreSQL reads each
            # statement at its own snapshot).
            job = job_rows.get(tx, run_id)
            row = rows.get(tx, run_id)
        if row is None:
            return None
        run = Run(row.id, bool(row.dry_run), COMPLETE, row.requested_at, row.finished_at)
        if row.report:
            return replace(run, report=_report(row.report))
        if job is None:  # failed, then pruned with its job
            return replace(run, status=FAILED, failure="the run's job is gone")
        status = _STATUS.get(job.state, FAILED)
        failure = (job.last_error or "failed") if status == FAILED else None
        return replace(run, status=status, failure=failure)

    def record(self, run_id: str, report: Report, now: float | None = None) -> None:
        with self.db.write() as tx:
            rows.finish(tx, run_id, json.dumps(report.as_dict()),
                        time.time() if now is None else now)


def runs_for(registry: "Registry") -> Runs:
    """The started runs of the registry's storage (shared by every account)."""
    return Runs(registry.db)


def _report(text: str) -> Report:
    found = json.loads(text)
    return Report(**{name: value for name, value in found.items() if name in _REPORT_FIELDS})
