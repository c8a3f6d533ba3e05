"""A registry's lifecycle policies: put, get and delete a repository's policy, and preview
what a policy would do. A preview is computed by a job (``compute_preview``), as ECR computes
it in the background: StartLifecyclePolicyPreview answers IN_PROGRESS at once."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

from ..jobs.queue import JobQueue
from ..quotas import services as quotas
from ..registry.repositories.service import require_id
from ..storage.metadata import lifecycle as rows
from ..storage.metadata import tags as tag_rows
from ..storage.metadata.database import Database
from .errors import PolicyInvalid, PolicyNotFound, PreviewInProgress, PreviewNotFound
from .policy import TRANSITION, Policy, parse
from .reading import CLASS_NAME, verdicts
from .run import RunReport, run_repository

PREVIEW_JOB = "lifecycle-preview"
IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"
# A preview IN_PROGRESS for this long lost its job (every attempt failed or timed out): a new
# one may replace it.
STALE_PREVIEW_SECONDS = 900.0


@dataclass(frozen=True)
class StoredPolicy:
    text: str
    last_evaluated_at: float | None


@dataclass(frozen=True)
class PreviewResult:
    digest: str
    tags: list[str]
    pushed_at: float
    action: str          # EXPIRE | TRANSITION
    priority: int
    storage_class: str   # STANDARD | ARCHIVE

    @property
    def target(self) -> str | None:
        return "ARCHIVE" if self.action == "TRANSITION" else None


@dataclass(frozen=True)
class Preview:
    text: str
    status: str
    as_of: float
    expiring: int
    transitioning: int
    results: list[PreviewResult]
    next_position: int | None  # where the next page starts, if there is one


RULES_QUOTA = "LifecycleRulesPerPolicy"


class LifecycleService:
    def __init__(self, db: Database, registry_id: int, queue: JobQueue | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.registry_id = registry_id
        self.queue = queue or JobQueue(db)
        self.clock = clock

    # -- the policy ------------------------------------------------------------------------
    def put_policy(self, repository: str, text: str) -> Policy:
        policy = parse(text)
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            limit = quotas.registry_value(tx, self.registry_id, RULES_QUOTA)
            if len(policy.rules) > limit:  # the account's or deployment's quota, under 50
                raise PolicyInvalid(f"A lifecycle policy can have at most {limit} rules.")
            rows.put_policy(tx, repo_id, text, self.clock())
        return policy

    def get_policy(self, repository: str) -> StoredPolicy:
        with self.db.read() as tx:
            return _stored(tx, require_id(tx, self.registry_id, repository), repository)

    def delete_policy(self, repository: str) -> StoredPolicy:
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            found = _stored(tx, repo_id, repository)
            rows.delete_policy(tx, repo_id)
        return found

    # -- previews --------------------------------------------------------------------------
    def start_preview(self, repository: str, text: str | None = None,
                      as_of: float | None = None) -> tuple[str, str]:
        """Queue a preview of ``text`` (of the repository's policy if None) as evaluated at
        ``as_of`` (now by default); returns (the text, IN_PROGRESS)."""
        if text is not None:
            parse(text)
        now = self.clock()
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            text = _text(tx, repo_id, repository, text)
            running = rows.preview(tx, repo_id)
            if (running is not None and running.status == IN_PROGRESS
                    and now - running.started_at < STALE_PREVIEW_SECONDS):
                raise PreviewInProgress(f"a preview of {repository!r} is in progress",
                                        {"name": repository})
            rows.start_preview(tx, repo_id, text, now if as_of is None else as_of, now,
                               IN_PROGRESS)
            self.queue.enqueue(PREVIEW_JOB, {"repositoryId": repo_id, "startedAt": now},
                               max_attempts=3, tx=tx)
        return text, IN_PROGRESS

    def compute_preview(self, repo_id: int, started_at: float) -> None:
        """The job of a preview: evaluate, then store the results (unless a newer preview
        replaced this one meanwhile)."""
        with self.db.read() as tx:
            found = rows.preview(tx, repo_id)
        if found is None or found.started_at != started_at or found.status != IN_PROGRESS:
            return
        results, expiring, transitioning = [], 0, 0
        for verdict in verdicts(self.db, repo_id, parse(found.text), found.as_of):
            transition = verdict.action == TRANSITION
            transitioning += transition
            expiring += not transition
            image = verdict.image
            results.append({"repository_id": repo_id, "position": len(results) + 1,
                            "digest": image.digest, "tags": list(image.tags),
                            "pushed_at": image.pushed_at, "priority": verdict.rule.priority,
                            "action": "TRANSITION" if transition else "EXPIRE",
                            "storage_class": CLASS_NAME[image.storage_class]})
        with self.db.write() as tx:
            if rows.finish_preview(tx, repo_id, started_at, COMPLETE, self.clock(), expiring,
                                   transitioning):
                rows.add_results(tx, results)

    def fail_preview(self, repo_id: int, started_at: float, error: str) -> None:
        with self.db.write() as tx:
            rows.finish_preview(tx, repo_id, started_at, FAILED, self.clock(),
                                error=error[:500])

    def preview(self, repository: str, after: int = 0, limit: int = 100,
                tagged: bool | None = None, digests: list[str] | None = None,
                tags: list[str] | None = None) -> Preview:
        """The repository's latest preview, results from position ``after`` on: of tagged
        (untagged) images if ``tagged`` is True (False), of the images ``digests`` and
        ``tags`` name if either is given."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            found = rows.preview(tx, repo_id)
            if found is None:
                raise PreviewNotFound(f"no lifecycle policy preview for {repository!r}",
                                      {"name": repository})
            if digests is not None or tags is not None:
                named = tag_rows.digests_for(tx, repo_id, list(tags or ()))
                digests = [*(digests or ()), *named.values()]
            page = rows.results(tx, repo_id, after, limit + 1, tagged, digests)
        more = len(page) > limit
        page = page[:limit]
        return Preview(found.text, found.status, found.as_of, found.expiring,
                       found.transitioning,
                       [PreviewResult(r.digest, json.loads(r.tags), r.pushed_at, r.action,
                                      r.priority, r.storage_class) for r in page],
                       page[-1].position if more else None)

    def evaluate(self, repository: str, text: str | None = None,
                 as_of: float | None = None) -> tuple[str, list]:
        """What the policy (``text``, else the repository's) would do at ``as_of`` (now by
        default): (the text, the verdicts), computed now rather than by a job."""
        if text is not None:
            parse(text)
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            text = _text(tx, repo_id, repository, text)
        now = self.clock() if as_of is None else as_of
        return text, list(verdicts(self.db, repo_id, parse(text), now))

    def run(self, repository: str) -> RunReport:
        """Run the repository's policy now."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
        return run_repository(self.db, self.registry_id, repo_id, repository, self.clock())


def _text(tx, repo_id: int, repository: str, text: str | None) -> str:
    """``text``, or the repository's policy when None (PolicyNotFound if it has none)."""
    return text if text is not None else _stored(tx, repo_id, repository).text


def _stored(tx, repo_id: int, repository: str) -> StoredPolicy:
    """The repository's policy, or PolicyNotFound."""
    found = rows.policy(tx, repo_id)
    if found is None:
        raise PolicyNotFound(f"no lifecycle policy for {repository!r}", {"name": repository})
    return StoredPolicy(found.text, found.last_evaluated_at)
