"""A metadata database with no room: a write transaction raises StorageFull (rolled back),
reads go on, and writes work again once space is freed. SQLite on a real full tmpfs;
PostgreSQL's disk_full (SQLSTATE 53100) as psycopg raises it, on both databases."""
from __future__ import annotations

import psycopg.errors
import pytest
from sqlalchemy import insert, select

from berth.storage.errors import METADATA_DATABASE, StorageFull
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import jobs
from tests.support.tmpfs import fill, tmpfs, truncate_wal


def _job(i: int) -> dict:
    return {"id": f"job-{i}", "kind": "test", "payload": "{}" + " " * 2000, "state": "queued",
            "run_at": 0.0, "attempts": 0, "max_attempts": 1, "created_at": 0.0}


def _count(db: Database) -> int:
    with db.read() as tx:
        return len(tx.all(select(jobs.c.id)))


@pytest.fixture
def full_sqlite(tmp_path):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        db = Database(f"sqlite:///{disk / 'metadata.db'}")
        try:
            migrate.upgrade(db)
            db.engine.dispose()  # as in a server's worker: no connection but the pool's
            with db.write() as tx:
                tx.execute(insert(jobs), _job(0))
            truncate_wal(disk / "metadata.db")
            yield db, fill(disk)
        finally:
            db.dispose()


def test_sqlite_on_a_full_disk(full_sqlite):
    db, filler = full_sqlite
    for durable in (True, False):
        with pytest.raises(StorageFull) as caught:
            with db.write(durable=durable) as tx:
                for i in range(1, 20):
                    tx.execute(insert(jobs), _job(i))
        assert caught.value.storage == METADATA_DATABASE
        assert caught.value.reason == "database or disk is full"
    assert _count(db) == 1  # reads go on; nothing of the refused writes is there
    filler.unlink()
    with db.write() as tx:
        tx.execute(insert(jobs), _job(1))
    assert _count(db) == 2


def test_reads_go_on_when_every_pooled_connection_is_closed(full_sqlite):
    """Failed writes close their connections; the last one closing would take SQLite's
    shared-memory index with it, which a full disk does not let the next connection make
    again. The pool holds one connection open so that reads go on."""
    db, filler = full_sqlite
    for _ in range(3):
        with pytest.raises(StorageFull):
            with db.write() as tx:
                tx.execute(insert(jobs), _job(1))
    pool = db._sqlite
    with pool._lock:
        idle, pool._idle = pool._idle, []
    for conn in idle:
        conn.close()
    fill(filler.parent)  # whatever closing them gave back
    assert _count(db) == 1


def test_disk_full_raised_by_the_database_driver(db):
    with pytest.raises(StorageFull) as caught:
        with db.write() as tx:
            tx.execute(insert(jobs), _job(1))
            raise psycopg.errors.DiskFull('could not extend file "base/16384/2619"')
    assert caught.value.storage == METADATA_DATABASE and "16384" not in str(caught.value)
    assert _count(db) == 0  # rolled back


def test_other_errors_pass_through(db):
    with pytest.raises(psycopg.errors.OutOfMemory):
        with db.write():
            raise psycopg.errors.OutOfMemory("out of memory")
