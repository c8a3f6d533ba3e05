"""SQLite's durable commits share fsyncs of the write-ahead log (group commit): each commit is
made inside the writer lock without waiting for the disk, then waits outside it for an fsync
of the log that began after it."""
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import column, func, insert, select, table, text

from berth.storage.metadata import sqlite as sqlite_module
from berth.storage.metadata.database import Database


@pytest.fixture
def marks(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE marks (n INTEGER PRIMARY KEY AUTOINCREMENT)"))
    yield db, str(tmp_path / "m.db")
    db.dispose()


MARKS = table("marks", column("n"))
LAST = select(func.max(MARKS.c.n).label("n"))


def _insert(db, durable=True) -> int:
    with db.write(durable) as tx:
        tx.execute(insert(MARKS).values(n=None))
        return tx.scalar(LAST)


class _Fsyncs:
    """Records each fsync of the log: how many rows were committed when it began."""

    def __init__(self, path: str, delay: float = 0.0):
        self.path, self.delay = path, delay
        self.started: list[int] = []
        self.finished: list[int] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, log: str) -> None:
        assert log == f"{self.path}-wal"
        conn = sqlite3.connect(self.path)
        committed = conn.execute("SELECT count(*) FROM marks").fetchone()[0]
        conn.close()
        with self.lock:
            self.started.append(committed)
        self.gate.wait(10)
        time.sleep(self.delay)
        with self.lock:
            self.finished.append(committed)


def test_a_durable_commit_returns_after_an_fsync_of_the_log_that_began_after_it(
        marks, monkeypatch):
    db, path = marks
    fsyncs = _Fsyncs(path)
    monkeypatch.setattr(sqlite_module, "_fsync_file", fsyncs)
    n = _insert(db)
    assert fsyncs.finished and max(fsyncs.finished) >= n


def test_a_relaxed_commit_does_not_wait_for_the_disk(marks, monkeypatch):
    db, path = marks
    fsyncs = _Fsyncs(path)
    monkeypatch.setattr(sqlite_module, "_fsync_file", fsyncs)
    _insert(db, durable=False)
    assert fsyncs.started == []


def test_the_writer_lock_is_free_while_a_commit_waits_for_the_disk(marks, monkeypatch):
    db, path = marks
    fsyncs = _Fsyncs(path)
    fsyncs.gate.clear()  # the first fsync waits until released
    monkeypatch.setattr(sqlite_module, "_fsync_file", fsyncs)
    first = threading.Thread(target=_insert, args=(db,))
    first.start()
    deadline = time.monotonic() + 10
    while not fsyncs.started and time.monotonic() < deadline:
        time.sleep(0.005)
    assert fsyncs.started == [1]
    assert _insert(db, durable=False) == 2  # another writer commits meanwhile
    assert first.is_alive()  # the durable one is still waiting for its fsync
    fsyncs.gate.set()
    first.join(10)
    assert not first.is_alive()


def test_concurrent_durable_commits_share_fsyncs_and_each_is_covered(marks, monkeypatch):
    db, path = marks
    fsyncs = _Fsyncs(path, delay=0.01)
    monkeypatch.setattr(sqlite_module, "_fsync_file", fsyncs)
    results, errors = [], []

    def writer():
        try:
            for _ in range(10):
                n = _insert(db)
                with fsyncs.lock:
                    covered = any(c >= n for c in fsyncs.finished)
                results.append((n, covered))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(results) == 80 and all(covered for _, covered in results)
    assert len(fsyncs.started) < 40  # shared: far fewer fsyncs than commits


def test_a_failed_fsync_fails_its_writer_and_the_next_one_retries(marks, monkeypatch):
    db, path = marks
    calls = []

    def failing_once(log):
        calls.append(log)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(sqlite_module, "_fsync_file", failing_once)
    with pytest.raises(OSError):
        _insert(db)
    assert _insert(db) == 2
    assert len(calls) == 2


def test_the_pools_connections_leave_syncing_to_the_group_and_alembics_do_not(marks):
    db, _ = marks
    conn = db._sqlite.get()  # the pool behind read() and write()
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        db._sqlite.put(conn)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_a_forked_child_waits_for_its_own_fsyncs_only(marks):
    db, _ = marks
    _insert(db)
    pid = os.fork()
    if pid == 0:  # the child: a new ticket sequence, its commit synced by its own fsync
        code = 0
        try:
            _insert(db)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _insert(db) == 3
