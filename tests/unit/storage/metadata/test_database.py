"""Transactions on both databases: reads see committed writes and change nothing; on
PostgreSQL reads run without BEGIN/COMMIT and idle connections that died are replaced."""
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import func, insert, literal_column, select, table, text

from berth.storage.metadata import database as database_module
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import repositories

COUNT = select(func.count().label("n")).select_from(repositories)
MISSING = select(literal_column("1").label("x")).select_from(table("no_such_table"))
NOW = select(func.now().label("now"))
PAUSE = select(func.pg_sleep(0.01).label("slept"))
PID = select(func.pg_backend_pid().label("pid"))


def _count(tx) -> int:
    return tx.scalar(COUNT)


def test_reads_see_committed_writes_and_a_failed_read_leaves_no_trace(db):
    with db.read() as tx:
        before = _count(tx)
    with db.write() as tx:
        tx.execute(insert(repositories).values(registry_id=0, name="r/one", created_at=1.0))
    with db.read() as tx:
        assert _count(tx) == before + 1
    with pytest.raises(Exception):
        with db.read() as tx:
            tx.scalar(MISSING)
    # The connection that failed is usable again (no aborted transaction left on it).
    for _ in range(3):
        with db.read() as tx:
            assert _count(tx) == before + 1
        with db.write() as tx:
            assert _count(tx) == before + 1


def test_a_postgres_read_runs_outside_a_transaction(postgres):
    """now() is the start of the transaction: apart in a read's statements, equal in a write's."""
    db = Database(postgres.create_database())
    try:
        for begin, apart in ((db.read, True), (db.write, False)):
            with begin() as tx:
                first = tx.scalar(NOW)
                tx.scalar(PAUSE)
                assert (tx.scalar(NOW) > first) is apart
    finally:
        db.dispose()


def test_an_idle_postgres_connection_that_died_is_replaced(postgres, monkeypatch):
    monkeypatch.setattr(database_module, "IDLE_PING_SECONDS", 0.0)
    url = postgres.create_database()
    db = Database(url, pool_size=1)
    try:
        with db.read() as tx:
            pid = tx.scalar(PID)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with db.read() as tx:
            assert tx.scalar(PID) != pid
    finally:
        db.dispose()


def test_sqlite_writers_of_other_processes_wait_on_the_write_lock(tmp_path):
    """Worker processes share one SQLite file: a writer waits on the lock file another
    process holds (the kernel wakes it on release; no busy-timeout polling)."""
    path = tmp_path / "m.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as tx:
            tx.execute(text("CREATE TABLE marks (n INTEGER)"))
        released = tmp_path / "released"
        holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
fd = os.open({str(path) + '.write-lock'!r}, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(0.3)
open({str(released)!r}, "w").close()
fcntl.flock(fd, fcntl.LOCK_UN)
"""], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        with db.write() as tx:  # blocks until the other process lets go
            assert released.exists()
            tx.execute(text("INSERT INTO marks VALUES (1)"))
        assert holder.wait(10) == 0
    finally:
        db.dispose()


def test_a_nodes_workers_share_its_postgresql_connections():
    sizes = {w: database_module.pool_size_for(w) for w in (1, 2, 4, 8, 64)}
    assert sizes[1] == database_module.NODE_CONNECTIONS
    assert all(w * sizes[w] <= database_module.NODE_CONNECTIONS for w in (1, 2, 4, 8))
    assert sizes[64] >= 2  # never a pool too small to hold a read and a write


def test_try_lock_is_held_by_one_holder_at_a_time(database_url):
    """Across processes and nodes: another Database object on the same database stands in
    for another node."""
    from berth.storage.metadata.database import Database

    a, b = Database(database_url), Database(database_url)
    try:
        with a.try_lock("sweep") as held:
            assert held
            with b.try_lock("sweep") as other:
                assert not other
            with b.try_lock("another") as unrelated:
                assert unrelated
        with b.try_lock("sweep") as held_now:
            assert held_now
    finally:
        a.dispose()
        b.dispose()
