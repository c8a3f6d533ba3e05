"""The sweep as a periodic job, run by one node at a time."""
from __future__ import annotations

import logging

from ..jobs.queue import JobQueue
from ..jobs.runner import JobContext, JobRunner
from .collector import GarbageCollector

log = logging.getLogger("berth.gc")

SWEEP = "gc-sweep"


def schedule_sweeps(runner: JobRunner, queue: JobQueue, collector: GarbageCollector,
                    interval_seconds: float) -> None:
    def sweep(job: JobContext) -> None:
        if queue.running_elsewhere(SWEEP, job.id):
            log.info("a sweep is running on another node; this one is skipped")
            return
        report = collector.sweep(cancelled=job.cancelled)
        if report.objects_deleted or report.links_unlinked or report.orphans_found:
            log.info("garbage collection: %s", report.as_dict())

    runner.every(interval_seconds, SWEEP, sweep)
