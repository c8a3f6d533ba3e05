"""Rows of replication (berth/replication): one task per image pushed and destination it goes
to, in push order (``id``). The tasks of a source repository and a destination form a lane,
copied oldest first by whichever worker holds the claim on its oldest unfinished task."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)

from .schema import manifests, metadata, repositories
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"

replication_tasks = Table(
    "replication_tasks", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("registry_id", Integer, nullable=False),      # the source registry
    Column("repository", String(256), nullable=False),
    Column("digest", String(200), nullable=False),
    Column("tag", String(300)),
    # What to do there: copy the image (and tag), or (deleteReplication) delete it, untag it.
    Column("action", String(16), nullable=False, server_default="copy"),
    Column("dest_region", String(32), nullable=False),
    Column("dest_account", String(12), nullable=False),
    Column("status", String(16), nullable=False),         # IN_PROGRESS | COMPLETE | FAILED
    Column("failure_code", String(500)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64)),
    Column("claimed_until", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("backfill_id", String(36)),                    # made by a backfill, not a push
    Index("ix_replication_tasks_image", "registry_id", "repository", "digest"),
    Index("ix_replication_tasks_backfill", "backfill_id", "id"),
    Index("ix_replication_tasks_lane", "registry_id", "repository", "dest_region",
          "dest_account", "status", "id"),
    sqlite_autoincrement=True,
)

# A backfill: the registry's existing images sent to one destination (its tasks carry its id).
replication_backfills = Table(
    "replication_backfills", metadata,
    Column("id", String(36), primary_key=True),
    Column("registry_id", Integer, nullable=False),
    Column("dest_region", String(32), nullable=False),
    Column("dest_account", String(12), nullable=False),
    Column("status", String(16), nullable=False),  # PREPARING, IN_PROGRESS, STOPPING, FAILED...
    Column("failure_code", String(200)),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_replication_backfills_registry", "registry_id", "started_at"),
)

R = replication_tasks.c
B = replication_backfills.c
LANE = ("registry_id", "repository", "dest_region", "dest_account")
_COLUMNS = ("registry_id", "repository", "digest", "tag", "action", "dest_region",
            "dest_account", "status", "attempts", "created_at", "updated_at", "backfill_id")
COPY, DELETE, UNTAG = "copy", "delete", "untag"


@cache
def _add(dialect: str):
    return insert(dialect, replication_tasks, *_COLUMNS)


@cache
def _head():
    return select(replication_tasks).where(
        *(getattr(R, c) == bindparam(c) for c in LANE), R.status == IN_PROGRESS
    ).order_by(R.id).limit(1)


@cache
def _claim():
    free = or_(R.claimed_by.is_(None), R.claimed_until < bindparam("now"),
               R.claimed_by == bindparam("worker"))
    return update(replication_tasks).where(R.id == bindparam("task"), R.status == IN_PROGRESS,
                                           free).values(
        claimed_by=bindparam("worker"), claimed_until=bindparam("until"))


@cache
def _finish():
    return update(replication_tasks).where(
        R.id == bindparam("task"), R.claimed_by == bindparam("worker")).values(
        status=bindparam("status"), failure_code=bindparam("failure"),
        attempts=R.attempts + bindparam("tried"), claimed_by=None, claimed_until=None,
        updated_at=bindparam("now"))


@cache
def _of_image():
    return select(R.dest_region, R.dest_account, R.status, R.failure_code).where(
        R.registry_id == bindparam("registry"), R.repository == bindparam("repository"),
        R.digest == bindparam("digest"), R.action == COPY).order_by(R.id)


@cache
def _lanes():
    return select(*(getattr(R, c) for c in LANE)).where(
        R.status == IN_PROGRESS, or_(R.claimed_until.is_(None),
                                     R.claimed_until < bindparam("now"))).distinct()


def add(tx: "Tx", rows: list[dict]) -> None:
    if rows:
        tx.executemany(_add(tx.dialect_name), [
            {"backfill_id": None, "action": COPY, **row, "status": IN_PROGRESS,
             "attempts": 0}
            for row in rows])


def head(tx: "Tx", lane: dict):
    """The lane's oldest unfinished task, or None."""
    return tx.first(_head(), lane)


def claim(tx: "Tx", task_id: int, worker: str, now: float, until: float) -> bool:
    return tx.execute(_claim(), {"task": task_id, "worker": worker, "now": now,
                                 "until": until}) == 1


def finish(tx: "Tx", task_id: int, worker: str, status: str, failure: str | None,
           tried: int, now: float) -> bool:
    """Record an attempt's end (``status`` IN_PROGRESS: to be tried again) and release it."""
    return tx.execute(_finish(), {"task": task_id, "worker": worker, "status": status,
                                  "failure": failure, "tried": tried, "now": now}) == 1


def of_image(tx: "Tx", registry_id: int, repository: str, digest: str) -> list:
    return tx.all(_of_image(), {"registry": registry_id, "repository": repository,
                                "digest": digest})


def open_lanes(tx: "Tx", now: float) -> list[dict]:
    """The lanes with unfinished tasks nobody holds (a sweep restarts them)."""
    return [row._asdict() for row in tx.all(_lanes(), {"now": now})]




# -- backfills ------------------------------------------------------------------------------
@cache
def _add_backfill(dialect: str):
    return insert(dialect, replication_backfills, "id", "registry_id", "dest_region",
                  "dest_account", "status", "started_at")


@cache
def _backfills():
    return select(replication_backfills).where(
        B.registry_id == bindparam("registry")).order_by(B.started_at.desc(), B.id)


@cache
def _set_backfill():
    return update(replication_backfills).where(B.id == bindparam("id")).values(
        status=bindparam("status"), failure_code=bindparam("failure"),
        ended_at=bindparam("ended"))


@cache
def _backfill_counts():
    return select(R.status, R.failure_code, R.claimed_by, R.updated_at).where(
        R.backfill_id == bindparam("id"))


@cache
def _backfill_results(filtered: bool):
    wanted = R.status == bindparam("status") if filtered else R.status != IN_PROGRESS
    return select(R.id, R.repository, R.digest, R.tag, R.status, R.failure_code).where(
        R.backfill_id == bindparam("id"), wanted,
        R.id > bindparam("after")).order_by(R.id).limit(bindparam("limit"))


@cache
def _drop_unclaimed():
    return delete(replication_tasks).where(
        R.backfill_id == bindparam("id"), R.status == IN_PROGRESS,
        or_(R.claimed_by.is_(None), R.claimed_until < bindparam("now")))


def add_backfill(tx: "Tx", backfill_id: str, registry_id: int, region: str, account: str,
                 now: float) -> None:
    tx.execute(_add_backfill(tx.dialect_name), {
        "id": backfill_id, "registry_id": registry_id, "dest_region": region,
        "dest_account": account, "status": "PREPARING", "started_at": now})


def backfills(tx: "Tx", registry_id: int) -> list:
    return tx.all(_backfills(), {"registry": registry_id})


def set_backfill(tx: "Tx", backfill_id: str, status: str, failure: str | None = None,
                 ended: float | None = None) -> None:
    tx.execute(_set_backfill(), {"id": backfill_id, "status": status, "failure": failure,
                                 "ended": ended})


def backfill_tasks(tx: "Tx", backfill_id: str) -> list:
    """(status, failure code, claimed by, updated at) of each of the backfill's tasks."""
    return tx.all(_backfill_counts(), {"id": backfill_id})


def backfill_results(tx: "Tx", backfill_id: str, after: int, limit: int,
                     status: str | None = None) -> list:
    """Its finished tasks after the id ``after`` (those of ``status`` only, if given)."""
    return tx.all(_backfill_results(status is not None),
                  {"id": backfill_id, "after": after, "limit": limit, "status": status})


def drop_unclaimed(tx: "Tx", backfill_id: str, now: float) -> None:
    """Forget the backfill's tasks nobody is copying (those under way finish)."""
    tx.execute(_drop_unclaimed(), {"id": backfill_id, "now": now})


# -- housekeeping ---------------------------------------------------------------------------
@cache
def _prune_backfills():
    return delete(replication_backfills).where(B.ended_at < bindparam("before"))


@cache
def _prune_orphaned_tasks():
    """Tasks of backfills no longer kept."""
    return delete(replication_tasks).where(
        R.backfill_id.is_not(None),
        ~exists().where(B.id == R.backfill_id))


@cache
def _prune_gone():
    """Finished tasks of images the source no longer has."""
    held = exists().where(repositories.c.registry_id == R.registry_id,
                          repositories.c.name == R.repository,
                          manifests.c.repository_id == repositories.c.id,
                          manifests.c.digest == R.digest)
    return delete(replication_tasks).where(R.status != IN_PROGRESS, R.backfill_id.is_(None),
                                           R.updated_at < bindparam("before"), ~held)


@cache
def _prune_superseded():
    """Finished tasks of pushes a later finished one (same image, action, destination) tells
    the outcome of."""
    later = replication_tasks.alias("later")
    newer = exists().where(later.c.registry_id == R.registry_id,
                           later.c.repository == R.repository, later.c.digest == R.digest,
                           later.c.action == R.action, later.c.dest_region == R.dest_region,
                           later.c.dest_account == R.dest_account, later.c.id > R.id,
                           later.c.status != IN_PROGRESS, later.c.backfill_id.is_(None))
    return delete(replication_tasks).where(R.status != IN_PROGRESS, R.backfill_id.is_(None),
                                           newer)


def prune(tx: "Tx", ended_before: float, finished_before: float) -> None:
    """Forget backfills that ended before ``ended_before`` (with their tasks), finished tasks
    of images gone from the source since before ``finished_before``, and finished tasks a
    later one of the same image and destination supersedes."""
    tx.execute(_prune_backfills(), {"before": ended_before})
    tx.execute(_prune_orphaned_tasks())
    tx.execute(_prune_gone(), {"before": finished_before})
    tx.execute(_prune_superseded())
