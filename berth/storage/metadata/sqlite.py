"""SQLite's side of the metadata database: its connection pragmas, a pool of plain
connections that keeps the WAL index mapped, the writer lock that queues writers across
threads and processes, durable commits that share fsyncs (group commit), and named file
locks (``Database.try_lock``)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                   "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=30000")
# The pool's connections commit without waiting for the disk; durable commits then wait
# for a GroupSync of the log. A checkpoint still syncs the log before it and the database
# file after it (SQLite's rule for NORMAL in WAL mode).
POOL_PRAGMAS = tuple(p.replace("synchronous=FULL", "synchronous=NORMAL") for p in SQLITE_PRAGMAS)


class GroupSync:
    """Durable commits of one process share fsyncs of the write-ahead log. A commit is made
    inside the writer lock without an fsync, then waits, outside it, for an fsync of the log
    that began after the commit: one fsync covers every commit before it, so writers waiting
    at once share one and none holds the lock through the disk's latency."""

    def __init__(self, path: str):
        self._log = f"{path}-wal"
        self._pid = -1

    def committed(self) -> int:
        """A ticket for a commit just made (call after COMMIT returned)."""
        if self._pid != os.getpid():  # first use, or a forked child: none of its parent's
            self._cond = threading.Condition()  # fsyncs is its to wait for
            self._committed = self._synced = 0  # tickets handed out; covered by an fsync
            self._syncing = False
            self._pid = os.getpid()
        with self._cond:
            self._committed += 1
            return self._committed

    def wait(self, ticket: int) -> None:
        """Return once an fsync of the log that began after the ticket's commit is done
        (OSError if the one this call made failed)."""
        with self._cond:
            while self._synced < ticket:
                if not self._syncing:
                    self._syncing, upto = True, self._committed
                    break
                self._cond.wait()
            else:
                return
        synced = False
        try:
            _fsync_file(self._log)
            synced = True
        finally:
            with self._cond:
                self._syncing = False
                if synced:
                    self._synced = max(self._synced, upto)
                self._cond.notify_all()


def _fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no log: the last connection checkpointed it into the synced database file
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SqliteWriterLock:
    """One writer at a time: among this process's threads, then among the processes that
    share the database file (an flock on ``<file>.write-lock``, which the kernel hands to the
    next waiter at once)."""

    def __init__(self, path: str | None):
        self._threads = threading.Lock()
        self._path = f"{path}.write-lock" if path and path != ":memory:" else None
        self._fd, self._pid = -1, 0

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._path:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            if self._path:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        if self._pid != os.getpid():  # a forked child must not share its parent's lock
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0


class SqlitePool:
    """Open SQLite connections for reuse; SQLite connections are cheap but not free.

    One more connection stays open, unused, from the first use to ``close`` (the anchor):
    when the last connection to a database in WAL mode closes, SQLite removes the log's
    shared-memory index, and the next connection must make it again -- which a full disk
    refuses ("disk I/O error"), so that every read would fail. Connections are closed after
    failed writes, so without the anchor a full disk could close them all."""

    def __init__(self, path: str):
        self.path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._anchor: sqlite3.Connection | None = None

    def get(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self._anchor is None:
            self._hold_open()
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                               isolation_level=None)
        for pragma in POOL_PRAGMAS:
            conn.execute(pragma)
        return conn

    def _hold_open(self) -> None:
        conn = self._connect()
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # maps the index
        with self._lock:
            if self._anchor is None:
                self._anchor, conn = conn, None
        if conn is not None:
            conn.close()

    def put(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            anchor, self._anchor = self._anchor, None
        for conn in idle:
            conn.close()
        if anchor is not None:
            anchor.close()


@contextlib.contextmanager
def file_lock(path: str | None, name: str) -> Iterator[bool]:
    if not path or path == ":memory:":
        yield True
        return
    fd = os.open(f"{path}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def configure_sqlite(engine: Engine) -> None:
    """Pragmas for the SQLAlchemy engine, which Alembic uses."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()
