"""Running a repository's policy: evaluate (streamed; only the selected images are kept),
then act in batches, each batch in one write transaction that first checks each image is as
evaluated (same tags, same status, same age: an image tagged or pushed again meanwhile is left
for the next run). Expiry goes through the images domain's one delete path, so garbage
collection frees the bytes afterwards. Each expiry and transition is recorded in the audit
trail and is a ``lifecycle.acted`` event, both in its batch's transaction."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from ..audit.services import record_lifecycle
from ..events import LIFECYCLE_ACTED, emit
from ..registry.images.deletion import delete_tree, start_waits
from ..registry.images.storage_class import archive_image
from ..storage.metadata import lifecycle as rows
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import tags
from ..storage.metadata.database import Database, Tx
from .evaluation import Verdict
from .policy import EXPIRE, parse
from .reading import STATUS, verdicts

log = logging.getLogger("berth.lifecycle")

BATCH = 100


@dataclass
class RunReport:
    repository: str
    expired: list[str] = field(default_factory=list)       # digests the rules expired
    transitioned: list[str] = field(default_factory=list)  # ... archived
    deleted: int = 0   # manifests deleted, with the index children and referrers that went too
    changed: int = 0   # images left alone: tagged, pushed or archived since evaluation

    def as_dict(self) -> dict:
        return {"repository": self.repository, "expired": self.expired,
                "transitioned": self.transitioned, "deleted": self.deleted,
                "changed": self.changed}


def run_repository(db: Database, registry_id: int, repo_id: int, repository: str, now: float,
                   cancelled: threading.Event | None = None, batch: int = BATCH) -> RunReport:
    report = RunReport(repository)
    with db.read() as tx:
        found = rows.policy(tx, repo_id)
    if found is None:
        return report
    # Evaluated whole before anything changes: a deletion would make an index's tagged child
    # a top-level image of a page not read yet, which the preview never counted.
    selected = list(verdicts(db, repo_id, parse(found.text), now))
    for start in range(0, len(selected), batch):
        _apply(db, registry_id, repo_id, repository, selected[start:start + batch], report,
               now)
        if cancelled is not None and cancelled.is_set() and start + batch < len(selected):
            raise InterruptedError(f"lifecycle run of {repository!r} cancelled")
    with db.write() as tx:
        rows.mark_evaluated(tx, repo_id, found.text, now)
    if report.expired or report.transitioned:
        log.info("lifecycle policy of %s: %s", repository, report.as_dict())
    return report


def _apply(db: Database, registry_id: int, repo_id: int, repository: str,
           batch: list[Verdict], report: RunReport, now: float) -> None:
    if not batch:
        return
    blobs: list[str] = []
    with db.write() as tx:
        unchanged = _unchanged(tx, repo_id, batch)
        report.changed += len(batch) - len(unchanged)
        for verdict in unchanged:
            digest = verdict.image.digest
            if manifest_rows.parent_of(tx, repo_id, digest) is not None:
                report.changed += 1  # an index listing it was pushed since
                continue
            if verdict.action != EXPIRE:
                archive_image(tx, repo_id, digest, now)
                report.transitioned.append(digest)
                _record(tx, registry_id, repo_id, repository, verdict, now)
                continue
            deletions = delete_tree(tx, registry_id, repo_id, repository, digest)
            report.expired.append(digest)
            _record(tx, registry_id, repo_id, repository, verdict, now)
            report.deleted += len(deletions)
            for deletion in deletions:
                blobs += deletion.blobs
    start_waits(db, repo_id, blobs)


def _record(tx: Tx, registry_id: int, repo_id: int, repository: str, verdict: Verdict,
            now: float) -> None:
    """The action's audit record (ECR's PolicyExecutionEvent) and its event (ECR Lifecycle
    Policy Action), in the transaction that takes it. An expiry's deletion makes its own
    image.deleted events besides (delete_tree)."""
    action, digest, tags = verdict.action.upper(), verdict.image.digest, list(verdict.image.tags)
    record_lifecycle(tx, registry_id, repository, action, digest, tags, verdict.rule.priority,
                     now)
    emit(tx, LIFECYCLE_ACTED, registry_id, repository, repositoryId=repo_id, digest=digest,
         tags=tags, action=action, rulePriority=verdict.rule.priority,
         targetStorageClass=verdict.target.upper() if verdict.target else None)


def _unchanged(tx: Tx, repo_id: int, batch: list[Verdict]) -> list[Verdict]:
    digests = [v.image.digest for v in batch]
    states = manifest_rows.states(tx, repo_id, digests)
    names = tags.names_for(tx, repo_id, digests)
    return [v for v in batch
            if states.get(v.image.digest) == (STATUS[v.image.storage_class], v.image.age_time)
            and tuple(sorted(names.get(v.image.digest, ()))) == v.image.tags]
