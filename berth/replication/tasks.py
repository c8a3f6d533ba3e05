"""Replication as background work. The outbox subscriber turns each image pushed (or tag
moved) into a task per destination the registry's rules send it to, in the transaction that
moves its cursor (each task made exactly once), and queues a job for its lane (a source
repository and a destination). A lane is copied oldest task first by the one worker holding
the claim on its oldest unfinished task: push order holds, a SIGKILLed worker's claim runs out
and its job runs again, and a copy done twice changes nothing (blobs and manifests are
content-addressed, the tag is put again). A periodic sweep restarts lanes nobody holds; a
daily prune forgets what no status needs any more (storage/metadata/replication.prune). A
copy's end (COMPLETE, or FAILED for good) is an ``image.replicated`` event on the destination,
in the transaction that records it."""
from __future__ import annotations

import json
import logging
import time

from ..events import (IMAGE_DELETED, IMAGE_PUSHED, IMAGE_REPLICATED, TAG_REMOVED, Event,
                      Subscriber, emit)
from ..jobs.queue import JobQueue
from ..jobs.runner import JobContext, JobRunner
from ..registry.registry import Registry
from ..registry.settings import read_settings
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import replication as rows
from ..storage.metadata import repositories as repository_rows
from ..storage.metadata import tags as tag_rows
from ..storage.metadata.database import Database, Tx
from .backfill import BACKFILL_JOB, Backfills
from .configuration import SETTINGS_KEY, Configuration
from .copy import Copier, ReplicationRefused, Task
from .remote import SiteCopier
from .sites import sites_of

log = logging.getLogger("berth.replication")

NAME = "replication"
COPY_JOB = "replication-copy"
SWEEP_JOB = "replication-sweep"
PRUNE_JOB = "replication-prune"
BACKFILL_RETENTION = 90 * 24 * 3600.0  # ECR keeps ended backfills 90 days
TASK_RETENTION = 24 * 3600.0            # a deleted image's statuses, a day
CLAIM_SECONDS = 300.0   # renewed before each blob
MAX_ATTEMPTS = 5        # then the task is FAILED


def subscriber(queue: JobQueue) -> Subscriber:
    def handle(tx: Tx, events: list[Event]) -> None:
        configurations: dict[int, Configuration] = {}
        tasks, lanes = [], {}
        for event in events:
            action = _ACTIONS.get(event.kind)
            if action is None:
                continue
            if event.registry_id not in configurations:
                configurations[event.registry_id] = Configuration.from_document(
                    read_settings(tx, event.registry_id).get(SETTINGS_KEY))
            configuration = configurations[event.registry_id]
            for d in configuration.destinations_for(event.repository, event.created_at,
                                                    deletes=action != rows.COPY):
                lane = {"registry_id": event.registry_id, "repository": event.repository,
                        "dest_region": d.region, "dest_account": d.registry_id}
                tasks.append({**lane, "digest": event.payload["digest"], "action": action,
                              "tag": event.payload.get("tag"), "created_at": event.created_at,
                              "updated_at": event.created_at})
                lanes[tuple(lane.values())] = lane
        rows.add(tx, tasks)
        for lane in lanes.values():
            queue.enqueue(COPY_JOB, lane, tx=tx)

    # From the start: what decides is when a destination was configured, not when this
    # subscriber first ran (jobs may start later than pushes, on `berth worker`).
    return Subscriber(NAME, handle, from_start=True)


# What each event becomes at a destination (deletions only where deleteReplication is on).
_ACTIONS = {IMAGE_PUSHED: rows.COPY, IMAGE_DELETED: rows.DELETE, TAG_REMOVED: rows.UNTAG}


def run_lane(db: Database, copier: Copier, lane: dict, worker: str,
             job: JobContext | None = None) -> int:
    """Copy the lane's tasks oldest first while this worker holds it; how many it finished.
    A failure worth trying again is raised (after the task counts the attempt)."""
    finished = 0
    while job is None or not job.cancelled.is_set():
        now = time.time()
        with db.write() as tx:
            task = rows.head(tx, lane)
            if task is None or not rows.claim(tx, task.id, worker, now, now + CLAIM_SECONDS):
                return finished  # done, or another worker holds the lane

        def keep_alive(task_id: int = task.id) -> None:
            at = time.time()
            with db.write() as tx:
                rows.claim(tx, task_id, worker, at, at + CLAIM_SECONDS)

        _attempt(db, copier, task, worker, keep_alive)
        finished += 1
    return finished


def _attempt(db: Database, copier: Copier, task, worker: str, keep_alive) -> None:
    status, failure = rows.COMPLETE, None
    try:
        copier.apply(Task(task.registry_id, task.repository, task.digest, task.tag,
                          task.dest_region, task.dest_account, task.action), keep_alive)
    except ReplicationRefused as exc:
        status, failure = rows.FAILED, exc.code
        log.warning("replication of %s@%s to %s/%s failed: %s", task.repository, task.digest,
                    task.dest_account, task.dest_region, exc)
    except Exception as exc:
        if task.attempts + 1 < MAX_ATTEMPTS:
            with db.write() as tx:
                rows.finish(tx, task.id, worker, rows.IN_PROGRESS, None, 1, time.time())
            raise
        status, failure = rows.FAILED, f"INTERNAL_ERROR: {type(exc).__name__}"
        log.exception("replication of %s@%s failed for good", task.repository, task.digest)
    with db.write() as tx:
        finished = rows.finish(tx, task.id, worker, status, failure, 1, time.time())
        if finished and task.action == rows.COPY:  # told once: by the finish recorded
            _replicated(tx, task, status)


def _replicated(tx: Tx, task, status: str) -> None:
    """A copy into a registry of this deployment ended (COMPLETE, or FAILED for good): its
    event on the destination registry and repository. A copy to a site is a push there,
    which that deployment tells its own targets of; a destination account that does not
    exist here has no registry to tell."""
    source = registry_rows.settings(tx, task.registry_id)
    dest_id = registry_rows.registry_id(tx, task.dest_account, task.dest_region)
    if source is None or dest_id is None or dest_id == task.registry_id:
        return
    if task.dest_account in sites_of(json.loads(source.settings) if source.settings else {}):
        return
    emit(tx, IMAGE_REPLICATED, dest_id, task.repository, digest=task.digest,
         tag=_tag_held(tx, dest_id, task) if status == rows.COMPLETE else task.tag,
         sourceAccount=source.account_id, sourceRegion=source.region,
         result="SUCCESS" if status == rows.COMPLETE else "FAILED")


def _tag_held(tx: Tx, dest_id: int, task) -> str | None:
    """The task's tag if it names the image at the destination now: a tag the destination
    holds immutably for another image was left out of the copy, and so of its event."""
    if not task.tag:
        return None
    repo_id = repository_rows.get_id(tx, dest_id, task.repository)
    held = tag_rows.get_digest(tx, repo_id, task.tag) if repo_id is not None else None
    return task.tag if held == task.digest else None


def register(runner: JobRunner, registry: Registry, sweep_seconds: float = 60.0) -> None:
    copier = Copier(registry, SiteCopier(registry, registry.secrets.resolve))
    queue = runner.queue

    def copy(job: JobContext) -> None:
        run_lane(registry.db, copier, job.payload, f"job-{job.id}", job)

    def sweep(job: JobContext) -> None:
        with registry.db.read() as tx:
            lanes = rows.open_lanes(tx, time.time())
        for lane in lanes:
            queue.enqueue(COPY_JOB, lane)

    def backfill(job: JobContext) -> None:
        source = registry.scoped(job.payload["registryId"])
        Backfills(source, queue).prepare(job.payload["id"],
                                         lambda lane: queue.enqueue(COPY_JOB, lane))

    def prune(job: JobContext) -> None:
        now = time.time()
        with registry.db.write() as tx:
            rows.prune(tx, now - BACKFILL_RETENTION, now - TASK_RETENTION)

    runner.register(COPY_JOB, copy)
    runner.register(BACKFILL_JOB, backfill)
    runner.every(sweep_seconds, SWEEP_JOB, sweep)
    runner.every(24 * 3600.0, PRUNE_JOB, prune)
