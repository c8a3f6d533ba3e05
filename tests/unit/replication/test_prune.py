"""Replication housekeeping (rows.prune, the daily job): ended backfills go after 90 days with
their tasks, a deleted image's finished tasks after a day, and a finished task once a later
one of the same image and destination tells the outcome; nothing unfinished ever goes."""
from __future__ import annotations

import pytest

from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata import replication as rows
from berth.storage.metadata.database import Database
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create

DAY = 86400.0
NOW = 1_000 * DAY


@pytest.fixture
def world(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id=1)
    pushes_create(db, 1)
    yield reg, str(push_image(reg, "app", "v1"))
    reg.close()


def _task(db, digest: str, status: str, updated_at: float = NOW, backfill: str | None = None,
          action: str = rows.COPY) -> None:
    with db.write() as tx:
        rows.add(tx, [{"registry_id": 1, "repository": "app", "digest": digest, "tag": None,
                       "action": action, "dest_region": "eu-west-1",
                       "dest_account": "123456789012", "created_at": updated_at,
                       "updated_at": updated_at, "backfill_id": backfill}])
        newest = max(r.id for r in tx.all(rows.replication_tasks.select()))
        tx.execute(rows.replication_tasks.update().where(rows.R.id == newest).values(
            status=status))


def _left(db) -> list[tuple]:
    with db.read() as tx:
        return sorted((r.digest[-4:], r.status, r.backfill_id or "") for r in tx.all(
            rows.replication_tasks.select()))


def test_what_goes_and_what_stays(world):
    reg, held = world
    db = reg.db
    gone = "sha256:" + "0" * 60 + "gone"
    fresh_gone = "sha256:" + "0" * 60 + "frsh"
    _task(db, held, rows.COMPLETE, NOW - 3 * DAY)   # superseded by the next one
    _task(db, held, rows.FAILED, NOW - 2 * DAY)      # the latest outcome: stays
    _task(db, held, rows.IN_PROGRESS, NOW - 9 * DAY)  # unfinished: stays
    _task(db, held, rows.COMPLETE, NOW, action=rows.UNTAG)  # another action: stays
    _task(db, gone, rows.FAILED, NOW - 2 * DAY)      # its image is gone: goes
    _task(db, fresh_gone, rows.COMPLETE, NOW)        # gone, but only just: stays
    with db.write() as tx:
        rows.add_backfill(tx, "old", 1, "eu-west-1", "123456789012", NOW - 200 * DAY)
        rows.set_backfill(tx, "old", rows.COMPLETE, ended=NOW - 91 * DAY)
        rows.add_backfill(tx, "recent", 1, "eu-west-1", "123456789012", NOW - 2 * DAY)
        rows.set_backfill(tx, "recent", rows.COMPLETE, ended=NOW - DAY)
    _task(db, held, rows.COMPLETE, NOW - 91 * DAY, backfill="old")
    _task(db, held, rows.COMPLETE, NOW - DAY, backfill="recent")
    with db.write() as tx:
        rows.prune(tx, NOW - 90 * DAY, NOW - DAY)
    h, f = held[-4:], fresh_gone[-4:]
    assert _left(db) == sorted([(h, rows.FAILED, ""), (h, rows.IN_PROGRESS, ""),
                                (h, rows.COMPLETE, ""), (f, rows.COMPLETE, ""),
                                (h, rows.COMPLETE, "recent")])
    with db.read() as tx:
        assert [b.id for b in rows.backfills(tx, 1)] == ["recent"]
