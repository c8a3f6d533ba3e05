"""A registry's scans: started by a push (``on_pushed``, the event subscriber's part) or by
hand (``start``, one basic scan per image per day, as ECR allows), run by a job (``record``
keeps its outcome), and read back (``result``, ``findings``, ``summaries``). Findings are kept
across rescans: one still found keeps its first observation time, one no longer found is
CLOSED (continuous scanning) or dropped (a basic scan shows its latest scan only)."""
from __future__ import annotations

import json
import time

import orjson
from dataclasses import dataclass
from pathlib import Path

from ..events import IMAGE_SCANNED, emit
from ..jobs.queue import JobQueue
from ..registry.images.service import ImageId
from ..registry.images.storage_class import ARCHIVED, resolve_digest
from ..registry.repositories.service import name_unknown, require_id
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import repository_settings as repo_rows
from ..storage.metadata import scanning as rows
from ..storage.metadata import tags as tag_rows
from ..storage.metadata import vulndb as vuln_rows
from ..storage.metadata.database import Database, Tx
from .configuration import (BASIC, RegistryScanning, RepositoryScanning, ScanningConfiguration,
                            for_repository, read_configuration)
from .errors import ImageArchived, ManualScanUnsupported, ScanLimitExceeded, ScanNotFound
from .findings import counts
from .scanner import Outcome
from .vulndb.store import SourceReport, import_source

SCAN_JOB = "image-scan"
REMATCH_JOB = "vulndb-rematch"
IN_PROGRESS, ACTIVE, COMPLETE = "IN_PROGRESS", "ACTIVE", "COMPLETE"
MANUAL_INTERVAL = 24 * 3600.0
CONTINUOUS_NOTE = "Continuous scan is selected for image."
EXPIRED_NOTE = ("The image is no longer scanned continuously: it was neither pushed nor pulled "
                "in the last {days} days.")
REVIVE_BATCH = 10_000


@dataclass(frozen=True)
class ScanState:
    digest: str
    scan_type: str
    status: str
    description: str | None
    completed_at: float | None
    source_updated_at: float | None
    counts: dict[str, int]

    @property
    def has_findings(self) -> bool:
        """A scan that looked: its findings and counts stand (a failed or unsupported one,
        or one in progress, has none to show; one whose continuous scanning expired shows
        what it last found)."""
        return self.status in (COMPLETE, ACTIVE, rows.EXPIRED) and self.completed_at is not None

    @classmethod
    def from_row(cls, row) -> "ScanState":
        return cls(row.digest, row.scan_type, row.status, row.description, row.completed_at,
                   row.source_updated_at, json.loads(row.counts) if row.counts else {})


def repository_scanning(tx: Tx, registry_id: int, name: str, scan_on_push: bool
                        ) -> RepositoryScanning:
    return for_repository(read_configuration(tx, registry_id), name, scan_on_push)


def expire_and_revive(db: Database, queue: JobQueue, days: int, now: float) -> tuple[int, int]:
    """Continuous scanning ends for images neither pushed nor pulled in ``days`` days (their
    status SCAN_ELIGIBILITY_EXPIRED, as Amazon Inspector's re-scan duration ends it) and
    starts again, with a scan now, for expired ones pushed or pulled since, where the
    configuration still scans their repository continuously. Returns (ended, restarted)."""
    cutoff, revived = now - days * 86400.0, 0
    configs: dict[int, RegistryScanning] = {}  # each registry's read once
    with db.write() as tx:
        expired = rows.expire_idle(tx, cutoff, EXPIRED_NOTE.format(days=days))
        for row in rows.revivable(tx, cutoff, REVIVE_BATCH):
            if row.registry_id not in configs:
                configs[row.registry_id] = read_configuration(tx, row.registry_id)
            scanning = for_repository(configs[row.registry_id], row.name, row.scan_on_push)
            if scanning.continuous:
                request(tx, queue, row.registry_id, row.repository_id, row.name, row.digest,
                        scanning, now)
                revived += 1
    return expired, revived


def request(tx: Tx, queue: JobQueue, registry_id: int, repo_id: int, repository: str,
            digest: str, scanning: RepositoryScanning, now: float) -> None:
    """The image's scan is IN_PROGRESS, and its job queued, in the caller's transaction."""
    rows.start(tx, repo_id, digest, scanning.scan_type, scanning.continuous, now)
    queue.enqueue(SCAN_JOB, {"registryId": registry_id, "repositoryId": repo_id,
                             "repository": repository, "digest": digest,
                             "scanType": scanning.scan_type, "requestedAt": now}, tx=tx)


class ScanService:
    def __init__(self, db: Database, registry_id: int, queue: JobQueue | None = None):
        self.db, self.registry_id = db, registry_id
        self.queue = queue or JobQueue(db)
        self.configuration = ScanningConfiguration(db, registry_id)

    def start(self, repository: str, image_id: ImageId) -> str:
        """StartImageScan: the digest whose scan is now IN_PROGRESS."""
        now = time.time()
        with self.db.write() as tx:
            row = repo_rows.get(tx, self.registry_id, repository)
            if row is None:
                raise name_unknown(repository)
            repo_id = row.id
            digest = resolve_digest(tx, repo_id, image_id)
            if manifest_rows.image_status(tx, repo_id, digest) == ARCHIVED:
                raise ImageArchived(f"image {digest} is archived", {"digest": digest})
            scanning = repository_scanning(tx, self.registry_id, repository,
                                           bool(row.scan_on_push))
            if scanning.scan_type != BASIC:
                raise ManualScanUnsupported(
                    "StartImageScan starts basic scans; this registry's scanning is ENHANCED "
                    "(images are scanned on push or continuously)", {"digest": digest})
            previous = rows.scan(tx, repo_id, digest)
            if (previous is not None
                    and previous.requested_at > now - MANUAL_INTERVAL):
                raise ScanLimitExceeded("The scan quota per image has been exceeded. Wait "
                                        "and try again.", {"digest": digest})
            request(tx, self.queue, self.registry_id, repo_id, repository, digest, scanning, now)
        return digest

    def result(self, repository: str, image_id: ImageId) -> tuple[int, ScanState]:
        """The image's latest scan (ScanNotFound if it never had one) and its repository id."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            digest = resolve_digest(tx, repo_id, image_id)
            row = rows.scan(tx, repo_id, digest)
        if row is None:
            raise ScanNotFound(f"image {digest} was never scanned", {"digest": digest})
        return repo_id, ScanState.from_row(row)

    def findings(self, repo_id: int, digest: str, after: str, limit: int) -> list:
        with self.db.read() as tx:
            return rows.page(tx, repo_id, digest, after, limit)

    def summaries(self, repository: str, digests: list[str]) -> dict[str, ScanState]:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            return {d: ScanState.from_row(r) for d, r in rows.scans(tx, repo_id, digests).items()}

    def repositories(self, names: list[str]) -> tuple[list[tuple[str, RepositoryScanning]],
                                                       list[str]]:
        """BatchGetRepositoryScanningConfiguration: each known name's scanning, and the
        names no repository has."""
        found, missing = [], []
        with self.db.read() as tx:
            config = read_configuration(tx, self.registry_id)
            for name in names:
                row = repo_rows.get(tx, self.registry_id, name)
                if row is None:
                    missing.append(name)
                else:
                    found.append((name, for_repository(config, name, bool(row.scan_on_push))))
        return found, missing


def record(db: Database, registry_id: int, repo_id: int, repository: str, digest: str,
           scan_type: str, outcome: Outcome, now: float | None = None,
           only_if_changed: bool = False) -> bool:
    """Keep a scan's outcome (unless the image is gone); returns whether anything changed.
    A scan that could not look (FAILED, UNSUPPORTED_IMAGE) leaves the findings as they were.
    ``only_if_changed``: a rematch that finds what was found leaves the rows alone."""
    now = time.time() if now is None else now
    complete = outcome.status == COMPLETE
    with db.write() as tx:
        row = rows.scan(tx, repo_id, digest)
        if row is None:
            return False
        states = rows.finding_states(tx, repo_id, digest)
        new = {f.key: (f, _detail(f)) for f in outcome.findings}
        changed = row.status != _status(row, outcome) or (complete and {
            k: d for k, (_, d) in new.items()} != {
            k: d for k, (status, _, d) in states.items() if status == "ACTIVE"})
        if only_if_changed and not changed:
            return False
        if complete:
            _write_findings(tx, repo_id, digest, row.continuous, new, states, now)
        found = counts([f.severity.label for f, _ in new.values()])
        rows.finish(tx, repo_id, digest, _status(row, outcome),
                    CONTINUOUS_NOTE if row.continuous and complete else outcome.description,
                    now, vuln_rows.updated_at(tx), json.dumps(found) if complete else None)
        emit(tx, IMAGE_SCANNED, registry_id, repository, repositoryId=repo_id, digest=digest,
             scanType=scan_type, status=_status(row, outcome), counts=found,
             tags=tag_rows.names_for(tx, repo_id, [digest]).get(digest, []))
    return changed


def _detail(finding) -> str:
    return orjson.dumps(finding.detail(), option=orjson.OPT_SORT_KEYS).decode()


def _status(row, outcome: Outcome) -> str:
    return ACTIVE if row.continuous and outcome.status == COMPLETE else outcome.status


def _write_findings(tx: Tx, repo_id: int, digest: str, continuous: bool, new: dict,
                    states: dict, now: float) -> None:
    """New and changed findings written whole; the rest only observed again (one
    statement); those no longer found closed (continuous) or dropped (basic)."""
    rows.put_findings(tx, [{
        "repository_id": repo_id, "digest": digest, "key": key,
        "severity": f.severity.label, "status": "ACTIVE",
        "first_observed_at": states[key][1] if key in states else now,
        "last_observed_at": now, "updated_at": now, "detail": detail}
        for key, (f, detail) in new.items()
        if key not in states or states[key][0] != "ACTIVE" or states[key][2] != detail])
    gone = [k for k, (status, _, _) in states.items() if k not in new and status == "ACTIVE"]
    if gone and continuous:
        rows.close(tx, repo_id, digest, gone, now)
    elif gone:
        rows.drop_findings_except(tx, repo_id, digest, list(new))
    rows.observed(tx, repo_id, digest, now)


def import_advisories(db: Database, paths: list[Path], now: float | None = None
                      ) -> list[SourceReport]:
    """``berth admin vulndb import``: each source in its transaction; when any advisory
    changed, continuously scanned images are matched again (a job, on whichever node)."""
    now = time.time() if now is None else now
    reports = [import_source(db, path, now) for path in paths]
    if any(r.changed for r in reports):
        JobQueue(db).enqueue(REMATCH_JOB, {"importedAt": now}, key=f"{REMATCH_JOB}@{now}")
    return reports
