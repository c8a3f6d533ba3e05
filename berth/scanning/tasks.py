"""Scanning's background work: the subscriber that starts a scan for each push the
configuration scans on push, the scan job itself, and the rematch of continuously scanned
images after the vulnerability database changed (stored inventories, no layer read again),
and the end of continuous scanning for images left idle."""
from __future__ import annotations

import logging
import time

from ..events import IMAGE_PUSHED, Event, Subscriber
from ..jobs.queue import JobQueue
from ..jobs.runner import JobContext, JobRunner
from ..registry.registry import Registry
from ..storage.metadata import repository_settings as repo_rows
from ..storage.metadata import scanning as rows
from ..storage.metadata.database import Database, Tx
from .scanner import FAILED, Limits, Outcome, Scanner
from .services import (REMATCH_JOB, SCAN_JOB, expire_and_revive, import_advisories, record,
                       repository_scanning, request)
from .vulndb.refresh import parse_urls, refresh

log = logging.getLogger("berth.scanning")

NAME = "scanning"
REFRESH_JOB = "vulndb-refresh"
PRUNE_JOB = "scan-inventory-prune"
EXPIRY_JOB = "scan-eligibility"
PRUNE_BATCH = 1000
PAGE = 200


def subscriber(queue: JobQueue) -> Subscriber:
    def handle(tx: Tx, events: list[Event]) -> None:
        for event in events:
            if event.kind == IMAGE_PUSHED:
                _on_pushed(tx, queue, event)

    return Subscriber(NAME, handle)


def _on_pushed(tx: Tx, queue: JobQueue, event: Event) -> None:
    repo = repo_rows.get(tx, event.registry_id, event.repository)
    if repo is None or repo.id != event.payload["repositoryId"]:
        return  # deleted (or deleted and made again) since
    scanning = repository_scanning(tx, event.registry_id, event.repository,
                                   bool(repo.scan_on_push))
    if scanning.on_push:
        request(tx, queue, event.registry_id, repo.id, event.repository,
                event.payload["digest"], scanning, event.created_at)


def handle_scans(runner: JobRunner, registry: Registry, limits: Limits) -> Scanner:
    scanner = Scanner(registry, limits)

    def scan(job: JobContext) -> None:
        p = job.payload
        try:
            outcome = scanner.scan(p["registryId"], p["repositoryId"], p["repository"],
                                   p["digest"], p["scanType"])
        except LookupError:
            return  # the image was deleted meanwhile
        except Exception as exc:
            if job.attempt < 3:
                raise  # storage or database trouble: the job runs again
            outcome = Outcome(FAILED, f"ScanFailed: {type(exc).__name__}: {exc}"[:500])
        record(registry.db, p["registryId"], p["repositoryId"], p["repository"], p["digest"],
               p["scanType"], outcome)

    def rematch(job: JobContext) -> None:
        changed = rematch_all(registry.db, scanner, job)
        log.info("vulnerability database changed: %d continuously scanned images have new "
                 "findings", changed)

    runner.register(SCAN_JOB, scan)
    runner.register(REMATCH_JOB, rematch)
    return scanner


def schedule_prune(runner: JobRunner, db: Database, interval: float = 24 * 3600.0,
                   grace: float = 24 * 3600.0) -> None:
    """Once a day, forget the inventories of layers no repository links any more."""
    def prune(job: JobContext) -> None:
        dropped = 1
        while dropped and not job.cancelled.is_set():
            with db.write() as tx:
                dropped = rows.drop_orphaned_layers(tx, time.time() - grace, PRUNE_BATCH)

    runner.every(interval, PRUNE_JOB, prune)


def schedule_expiry(runner: JobRunner, db: Database, queue: JobQueue, days: int,
                    interval: float = 3600.0) -> None:
    """Hourly: continuous scans end for images idle ``days`` days, and start again for
    those pushed or pulled since (BERTH_SCAN_RESCAN_DAYS; 0: scanned for their lifetime)."""
    if days <= 0:
        return

    def run(job: JobContext) -> None:
        ended, restarted = expire_and_revive(db, queue, days, time.time())
        if ended or restarted:
            log.info("continuous scanning ended for %d idle images, started again for %d",
                     ended, restarted)

    runner.every(interval, EXPIRY_JOB, run)


def schedule_refresh(runner: JobRunner, db: Database, urls: str, interval: float) -> None:
    """Refresh from ``urls`` (BERTH_VULNDB_URLS) once per interval across all nodes."""
    found = parse_urls(urls)
    if not found:
        return

    def run(job: JobContext) -> None:
        for report in refresh(db, found, import_advisories):
            log.info("vulnerability data %s: %d advisories, %d changed", report.name,
                     report.records, report.changed)

    runner.every(interval, REFRESH_JOB, run)


def rematch_all(db: Database, scanner: Scanner, job: JobContext | None = None) -> int:
    """Match every continuously scanned image again; returns how many changed."""
    after, changed = (0, ""), 0
    while True:
        with db.read() as tx:
            page = rows.continuous(tx, after, PAGE)
        for row in page:
            if job is not None and job.cancelled.is_set():
                raise InterruptedError("rematch cancelled")
            try:
                outcome = scanner.scan(row.registry_id, row.repository_id, row.name, row.digest,
                                       "ENHANCED")
            except LookupError:
                continue
            changed += record(db, row.registry_id, row.repository_id, row.name, row.digest,
                              "ENHANCED", outcome, only_if_changed=True)
        if len(page) < PAGE:
            return changed
        after = (page[-1].repository_id, page[-1].digest)
