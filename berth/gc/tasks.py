"""Garbage collection as jobs: periodic sweeps of links and objects, and, less often, the
walk of the whole storage for objects (and uploads) no row knows; and the full sweeps an
operator starts (``runs``). A sweep that finds another running (on any node) leaves the work
to it."""
from __future__ import annotations

import logging

from ..jobs.runner import JobContext, JobRunner
from .collector import GarbageCollector
from .runs import RUN, Runs

log = logging.getLogger("berth.gc")

SWEEP = "gc-sweep"
ORPHAN_SCAN = "gc-orphans"


def schedule_sweeps(runner: JobRunner, collector: GarbageCollector, interval_seconds: float,
                    orphan_scan_seconds: float) -> None:
    def sweep(orphans: bool):
        def run(job: JobContext) -> None:
            report = collector.sweep(orphans=orphans, cancelled=job.cancelled)
            if report.skipped:
                log.info("%s: another sweep is running; left to it", job.kind)
            elif (report.objects_deleted or report.links_unlinked or report.orphans_found
                  or report.orphan_uploads):
                log.info("garbage collection: %s", report.as_dict())
        return run

    runner.every(interval_seconds, SWEEP, sweep(orphans=False))
    runner.every(orphan_scan_seconds, ORPHAN_SCAN, sweep(orphans=True))


def handle_runs(runner: JobRunner, collector: GarbageCollector) -> None:
    """Run the sweeps operators start, and keep their reports."""
    runs = Runs(collector.db)

    def run(job: JobContext) -> None:
        report = collector.sweep(dry_run=bool(job.payload.get("dryRun")),
                                 cancelled=job.cancelled)
        runs.record(job.id, report)
        log.info("garbage collection %s: %s", job.id, report.as_dict())

    runner.register(RUN, run)
