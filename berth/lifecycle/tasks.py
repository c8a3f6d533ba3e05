"""Lifecycle's background work: previews (queued by StartLifecyclePolicyPreview) and the
periodic run of every policy that has not run for an interval. A run is one job at a time
across all nodes (the schedule's slot); a repository's run is retried by the next slot if a
node dies in it (its last evaluation time was not moved)."""
from __future__ import annotations

import logging
import time

from ..jobs.runner import JobContext, JobRunner
from ..storage.metadata import lifecycle as rows
from ..storage.metadata.database import Database
from .run import RunReport, run_repository
from .services import PREVIEW_JOB, LifecycleService

log = logging.getLogger("berth.lifecycle")

RUN_JOB = "lifecycle-run"
PAGE = 100


def run_due(db: Database, interval: float, now: float | None = None,
            job: JobContext | None = None) -> list[RunReport]:
    """Run every policy that last ran ``interval`` seconds before ``now`` or never."""
    now = time.time() if now is None else now
    reports, after = [], 0
    while True:
        with db.read() as tx:
            due = rows.due(tx, now - interval, after, PAGE)
        for repo in due:
            if job is not None and job.cancelled.is_set():
                raise InterruptedError("lifecycle run cancelled")
            try:
                reports.append(run_repository(db, repo.registry_id, repo.repository_id,
                                              repo.name, now, job.cancelled if job else None))
            except InterruptedError:
                raise
            except Exception:  # one repository's failure must not stop the others' runs
                log.exception("lifecycle policy of %s failed; it runs again next check",
                              repo.name)
        if len(due) < PAGE:
            return reports
        after = due[-1].repository_id


def schedule_lifecycle(runner: JobRunner, db: Database, interval_seconds: float,
                       check_seconds: float) -> None:
    def preview(job: JobContext) -> None:
        service = LifecycleService(db, 0)  # a preview is found by repository id alone
        repo_id, started = job.payload["repositoryId"], job.payload["startedAt"]
        try:
            service.compute_preview(repo_id, started)
        except Exception as exc:
            if job.attempt >= 3:  # the last attempt: the preview fails, visibly
                service.fail_preview(repo_id, started, f"{type(exc).__name__}: {exc}")
            raise

    runner.register(PREVIEW_JOB, preview)
    runner.every(check_seconds, RUN_JOB,
                 lambda job: run_due(db, interval_seconds, job=job))
