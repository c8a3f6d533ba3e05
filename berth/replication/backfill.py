"""Replication backfills (Start/Stop/ListReplicationBackfills, DescribeReplicationBackfillResults):
a registry's images that exist already, sent to one destination its rules name, copied as
pushes are -- tasks in lanes, in push order -- each task carrying the backfill's id. A job
lists the images (PREPARING) and makes the tasks in one transaction (IN_PROGRESS); the
backfill is COMPLETE once none is unfinished. Stopping drops the tasks nobody is copying
(those under way finish: STOPPING, then STOPPED). One backfill per destination region at a
time, as ECR has it."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from ..jobs.queue import JobQueue
from ..registry.errors import RegistryError
from ..registry.registry import Registry
from ..storage.metadata import replication as rows
from ..storage.metadata.database import Tx
from .configuration import Destination, ReplicationConfigurations

BACKFILL_JOB = "replication-backfill"
PREPARING, STOPPING, STOPPED = "PREPARING", "STOPPING", "STOPPED"
ACTIVE = (PREPARING, rows.IN_PROGRESS, STOPPING)
PAGE = 1000


class BackfillNotFound(RegistryError):
    """No replication backfill has that id."""


class BackfillInProgress(RegistryError):
    """A backfill to that destination is running already."""


class BackfillInvalidStatus(RegistryError):
    """A backfill in a status that does not allow the change."""


class DestinationNotConfigured(RegistryError):
    """A backfill to a destination no replication rule names."""


@dataclass(frozen=True)
class Backfill:
    id: str
    destination: Destination
    status: str
    failure_code: str | None
    started_at: float
    ended_at: float | None
    total: int
    completed: int
    failed: int
    failure_codes: tuple[str, ...]


def _state(tx: Tx, row) -> Backfill:
    """The backfill as it stands: an active one whose tasks are all finished has ended."""
    tasks = rows.backfill_tasks(tx, row.id)
    unfinished = sum(t.status == rows.IN_PROGRESS for t in tasks)
    status, ended = row.status, row.ended_at
    if status in (rows.IN_PROGRESS, STOPPING) and not unfinished:
        status = rows.COMPLETE if status == rows.IN_PROGRESS else STOPPED
        ended = max((t.updated_at for t in tasks), default=row.started_at)
    failed = [t for t in tasks if t.status == rows.FAILED]
    return Backfill(row.id, Destination(row.dest_region, row.dest_account), status,
                    row.failure_code, row.started_at, ended, len(tasks),
                    sum(t.status == rows.COMPLETE for t in tasks), len(failed),
                    tuple(sorted({t.failure_code for t in failed if t.failure_code})))


class Backfills:
    def __init__(self, registry: Registry, queue: JobQueue | None = None):
        self.registry = registry
        self.db = registry.db
        self.queue = queue or JobQueue(registry.db)

    def start(self, destination: Destination) -> Backfill:
        configuration = ReplicationConfigurations(self.db, self.registry.registry_id).get()
        if not any(destination in rule.destinations for rule in configuration.rules):
            raise DestinationNotConfigured(
                f"The destination ({destination.region}, {destination.registry_id}) is not in "
                "the registry's replication configuration")
        backfill_id, now = str(uuid.uuid4()), time.time()
        with self.db.write() as tx:
            for row in rows.backfills(tx, self.registry.registry_id):
                if row.dest_region == destination.region and _state(tx, row).status in ACTIVE:
                    raise BackfillInProgress(
                        f"A replication backfill to {destination.region} is in progress "
                        f"already: {row.id}")
            rows.add_backfill(tx, backfill_id, self.registry.registry_id, destination.region,
                              destination.registry_id, now)
            self.queue.enqueue(BACKFILL_JOB, {"registryId": self.registry.registry_id,
                                              "id": backfill_id}, tx=tx)
        return self.get(backfill_id)

    def stop(self, backfill_id: str) -> Backfill:
        with self.db.write() as tx:
            found = _state(tx, self._row(tx, backfill_id))
            if found.status not in (PREPARING, rows.IN_PROGRESS):
                raise BackfillInvalidStatus(f"The replication backfill {backfill_id} is "
                                            f"{found.status}: only one in progress stops")
            rows.drop_unclaimed(tx, backfill_id, time.time())
            rows.set_backfill(tx, backfill_id, STOPPING)
        return self.get(backfill_id)

    def list(self) -> list[Backfill]:
        with self.db.read() as tx:
            return [_state(tx, row) for row in rows.backfills(tx, self.registry.registry_id)]

    def get(self, backfill_id: str) -> Backfill:
        with self.db.read() as tx:
            return _state(tx, self._row(tx, backfill_id))

    def results(self, backfill: Backfill, status: str | None, after: int,
                limit: int) -> list:
        """Up to ``limit`` + 1 rows (id, repository, digest, tag, status, failure code) of its
        finished tasks (of ``status``, if given) after the id ``after``, once it has ended
        (none before), oldest first."""
        if backfill.status in ACTIVE:
            return []
        with self.db.read() as tx:
            return rows.backfill_results(tx, backfill.id, after, limit + 1, status)

    def _row(self, tx: Tx, backfill_id: str):
        for row in rows.backfills(tx, self.registry.registry_id):
            if row.id == backfill_id:
                return row
        raise BackfillNotFound(f"The replication backfill with id '{backfill_id}' does not "
                               "exist in the registry", {"id": backfill_id})

    # -- the job ---------------------------------------------------------------------------
    def prepare(self, backfill_id: str, enqueue_lane) -> None:
        """List the images its destination's rules cover and make their tasks."""
        with self.db.read() as tx:
            row = self._row(tx, backfill_id)
        if row.status != PREPARING:
            if row.status == STOPPING:
                with self.db.write() as tx:
                    rows.set_backfill(tx, backfill_id, STOPPED, ended=time.time())
            return
        destination = Destination(row.dest_region, row.dest_account)
        configuration = ReplicationConfigurations(self.db, self.registry.registry_id).get()
        tasks = [task for repository in self._repositories()
                 if any(destination in r.destinations and r.covers(repository)
                        for r in configuration.rules)
                 for task in self._tasks(repository, destination, backfill_id)]
        with self.db.write() as tx:
            if self._row(tx, backfill_id).status == PREPARING:  # not stopped meanwhile
                rows.add(tx, tasks)
                rows.set_backfill(tx, backfill_id, rows.IN_PROGRESS)
            else:
                rows.set_backfill(tx, backfill_id, STOPPED, ended=time.time())
                return
        for lane in {(t["repository"]): t for t in tasks}.values():
            enqueue_lane({k: lane[k] for k in rows.LANE})

    def _repositories(self):
        after = None
        while True:
            names, more = self.registry.repositories.catalog(PAGE, after)
            yield from names
            if not more:
                return
            after = names[-1]

    def _tasks(self, repository: str, destination: Destination, backfill_id: str):
        after, now = None, time.time()
        while True:
            ids, more = self.registry.images.list_ids(repository, "ANY", after, PAGE)
            for image in ids:
                yield {"registry_id": self.registry.registry_id, "repository": repository,
                       "digest": image.digest, "tag": image.tag,
                       "dest_region": destination.region,
                       "dest_account": destination.registry_id, "created_at": now,
                       "updated_at": now, "backfill_id": backfill_id}
            if not more:
                return
            after = (ids[-1].digest, ids[-1].tag or "")
