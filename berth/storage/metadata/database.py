"""Transactions over SQLite or PostgreSQL, with SQLAlchemy Core as the SQL compiler only.

Statements are built once (see the modules beside this one), compiled once per database
dialect, and executed on plain DB-API connections: on the registry's hot paths SQLAlchemy's
per-execution machinery costs many times the query itself. Alembic migrations use the
SQLAlchemy engine as usual.

On SQLite a write transaction starts with BEGIN IMMEDIATE, so a busy database makes a writer
wait for the lock (busy_timeout) instead of failing when a reader upgrades to a writer; and
writers queue on a lock (threads on a mutex, the worker processes sharing the file on an flock
beside it), which hands the database over at once rather than leaving waiters to SQLite's
sleep-and-poll.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import namedtuple
from typing import Any, Callable, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from ...observability.metrics import DatabaseMetrics
from ..errors import METADATA_DATABASE, is_full, storage_full
from . import events, work_signal
from .sqlite import GroupSync, SqlitePool, SqliteWriterLock, configure_sqlite, file_lock

log = logging.getLogger("berth.storage")


class _Compiled:
    __slots__ = ("sql", "names", "defaults", "row_type")

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or [])
        self.defaults = dict(compiled.params)  # literals in the statement are parameters too
        columns = getattr(stmt, "selected_columns", None)
        self.row_type = namedtuple("Row", [c.key for c in columns]) if columns else None

    def args(self, params: dict[str, Any] | None) -> list[Any]:
        params = params or {}
        return [params[n] if n in params else self.defaults[n] for n in self.names]


class Tx:
    """One transaction: execute prebuilt statements with named parameters."""

    __slots__ = ("_raw", "_db", "dialect_name", "pending_events", "queued_work")

    def __init__(self, raw, db: "Database"):
        self._raw = raw
        self._db = db
        self.dialect_name = db.dialect_name
        self.pending_events: list[dict] = []
        self.queued_work = False  # jobs or deliveries queued: runners hear of it (on_work)

    @property
    def database(self) -> "Database":
        return self._db

    def emit(self, kind: str, registry_id: int, repository: str | None, payload: str) -> None:
        """Append an event to the outbox when this transaction commits (``payload`` JSON)."""
        self.pending_events.append({"kind": kind, "registry_id": registry_id,
                                    "repository": repository, "payload": payload,
                                    "created_at": time.time()})

    def _run(self, stmt, params):
        compiled = self._db.compiled(stmt)
        cursor = self._raw.cursor()
        cursor.execute(compiled.sql, compiled.args(params))
        return compiled, cursor

    def execute(self, stmt, params: dict[str, Any] | None = None) -> int:
        """Run a statement; returns the number of rows it changed."""
        _, cursor = self._run(stmt, params)
        count = cursor.rowcount
        cursor.close()
        return count

    def executemany(self, stmt, rows: list[dict[str, Any]]) -> None:
        compiled = self._db.compiled(stmt)
        cursor = self._raw.cursor()
        cursor.executemany(compiled.sql, [compiled.args(row) for row in rows])
        cursor.close()

    def all(self, stmt, params: dict[str, Any] | None = None) -> list:
        compiled, cursor = self._run(stmt, params)
        rows = cursor.fetchall()
        cursor.close()
        return [compiled.row_type._make(row) for row in rows]

    def first(self, stmt, params: dict[str, Any] | None = None):
        compiled, cursor = self._run(stmt, params)
        row = cursor.fetchone()
        cursor.close()
        return None if row is None else compiled.row_type._make(row)

    def scalar(self, stmt, params: dict[str, Any] | None = None):
        row = self.first(stmt, params)
        return None if row is None else row[0]

    def scalars(self, stmt, params: dict[str, Any] | None = None) -> list:
        """The first column of every row (no row objects: a 10k-tag listing is half of that
        building otherwise)."""
        _, cursor = self._run(stmt, params)
        rows = cursor.fetchall()
        cursor.close()
        return [row[0] for row in rows]

    def serialise(self, key: int) -> None:
        """Wait for other write transactions that serialise on ``key`` (PostgreSQL advisory
        lock until commit; SQLite's write transactions are serialised already)."""
        if self.dialect_name == "postgresql":
            cursor = self._raw.cursor()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            cursor.close()


def normalise_url(url: str) -> str:
    """PostgreSQL URLs as users write them go to psycopg (version 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# PostgreSQL connections a node keeps open, shared among its worker processes: enough that
# a burst seldom opens and closes overflow connections (a connect costs milliseconds), few
# enough that several nodes stay under PostgreSQL's default of 100 connections.
NODE_CONNECTIONS = 32


def pool_size_for(workers: int) -> int:
    """Connections one of ``workers`` processes of a node keeps open."""
    return max(2, NODE_CONNECTIONS // max(1, workers))


class Database:
    def __init__(self, url: str, pool_size: int = pool_size_for(2)):
        url = normalise_url(url)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._group_sync: GroupSync | None = None
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"timeout": 30})
            configure_sqlite(self.engine)
            path = self.engine.url.database
            self._sqlite = SqlitePool(path)
            if path and path != ":memory:":
                self._group_sync = GroupSync(path)
        else:
            # No pre-ping on every checkout (a round trip per transaction): connections
            # idle for a while are pinged instead (_ping_idle_connections).
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=4)
            _ping_idle_connections(self.engine)
        self.dialect_name = self.engine.dialect.name
        self._dialect = self.engine.dialect
        if not self._dialect.positional:  # e.g. psycopg's pyformat: compile to its %s form
            self._dialect = type(self._dialect)(paramstyle="format")
        self._compiled: dict[Any, _Compiled] = {}
        self._writer_lock = (SqliteWriterLock(self.engine.url.database) if self.is_sqlite
                             else contextlib.nullcontext())
        self._metrics = DatabaseMetrics(self.dialect_name)
        self._work_listeners: list[Callable[[frozenset[str]], None]] = []
        self._work_signal: work_signal.Listener | None = None

    def on_work(self, listener: Callable[[frozenset[str]], None]) -> Callable[[], None]:
        """Call ``listener`` after each durable write that appended events or queued work,
        with what it did (``work_signal.EVENTS``, ``WORK``), so that job runners look at
        once instead of at their next poll: this process's writes (in the committing
        thread) and, on PostgreSQL, every node's (in a listening thread). Returns what
        removes it."""
        self._work_listeners.append(listener)
        if not self.is_sqlite and self._work_signal is None:
            self._work_signal = work_signal.Listener(self._listening_connection,
                                                     self._tell_work)

        def remove() -> None:
            self._work_listeners.remove(listener)
            if not self._work_listeners and self._work_signal is not None:
                self._work_signal.close()
                self._work_signal = None
        return remove

    def _listening_connection(self):
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                               connect_timeout=10)

    def _tell_work(self, news: frozenset[str]) -> None:
        for listener in list(self._work_listeners):
            try:
                listener(news)
            except Exception:  # a listener's trouble is never the committed write's
                log.exception("a work listener failed")

    def compiled(self, stmt) -> _Compiled:
        found = self._compiled.get(stmt)
        if found is None:
            found = self._compiled[stmt] = _Compiled(stmt, self._dialect)
        return found

    @property
    def inline_reads(self) -> bool:
        """Whether a hot-path read is cheap enough to run on the event loop (SQLite's are
        tens of microseconds, less than a hop to a thread)."""
        return self.is_sqlite

    @contextlib.contextmanager
    def _raw(self) -> Iterator[Any]:
        in_use = self._metrics.in_use
        if self.is_sqlite:
            conn = self._sqlite.get()
            in_use.inc()
            try:
                yield conn
            except BaseException:
                conn.close()  # a connection in an unknown state is not reused
                raise
            else:
                self._sqlite.put(conn)
            finally:
                in_use.dec()
        else:
            self._metrics.waiting.inc()
            try:
                conn = self.engine.raw_connection()
            finally:
                self._metrics.waiting.dec()
            in_use.inc()
            try:
                yield conn
            finally:
                conn.close()  # back to SQLAlchemy's pool, which resets it
                in_use.dec()

    @contextlib.contextmanager
    def _transaction(self, begin: str, durable: bool = True) -> Iterator[Tx]:
        started = time.perf_counter()
        try:
            with self._untimed_transaction(begin, durable) as tx:
                yield tx
        finally:
            (self._metrics.read_seconds if begin == "BEGIN" else
             self._metrics.write_seconds).observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def _untimed_transaction(self, begin: str, durable: bool = True) -> Iterator[Tx]:
        if not self.is_sqlite and begin == "BEGIN":
            with self._pg_read() as tx:
                yield tx
            return
        with self._raw() as raw:
            if self.is_sqlite:  # its commits wait for the disk in write(), after the lock
                raw.execute(begin)
            elif not durable:
                raw.cursor().execute("SET LOCAL synchronous_commit = off")
            tx = Tx(raw, self)
            try:
                yield tx
                if tx.pending_events:
                    events.flush(tx, tx.pending_events)
                news = work_signal.news(tx)
                if news and not self.is_sqlite:
                    work_signal.notify(raw.cursor(), news)  # sent if it commits
            except BaseException:
                raw.rollback()
                raise  # _raw discards the connection, relaxed pragma and all
            raw.commit()

    @contextlib.contextmanager
    def _pg_read(self) -> Iterator[Tx]:
        """A PostgreSQL read in autocommit: no BEGIN and COMMIT round trips. Under READ
        COMMITTED every statement takes its own snapshot inside a transaction too, so a
        read sees nothing different."""
        with self._raw() as raw:
            conn = raw.driver_connection
            conn.autocommit = True
            try:
                yield Tx(raw, self)
            finally:
                conn.autocommit = False

    def read(self):
        return self._transaction("BEGIN")

    @contextlib.contextmanager
    def write(self, durable: bool = True) -> Iterator[Tx]:
        """A write transaction. ``durable=False`` commits without waiting for the disk: it
        survives a process crash but not a power loss (for bookkeeping such as upload
        progress, which content verification backs up). On SQLite a durable commit waits
        for the disk after the writer lock is released, sharing one fsync with the commits
        around it (sqlite.GroupSync): readers may see it that moment before it returns.
        A database with no room for it (SQLite's "database or disk is full", PostgreSQL's
        disk_full) raises StorageFull, the transaction rolled back."""
        try:
            with self._writer_lock, self._transaction("BEGIN IMMEDIATE", durable) as tx:
                yield tx
            if durable and self._group_sync is not None:
                self._group_sync.wait(self._group_sync.committed())
            news = work_signal.news(tx)
            if news and self._work_listeners:
                self._tell_work(news)
        except Exception as exc:
            if is_full(exc):
                raise storage_full(METADATA_DATABASE, exc) from exc
            raise

    @contextlib.contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """Hold a named lock across processes and nodes while the block runs, if no one else
        holds it (yields False then, without waiting): a PostgreSQL session advisory lock on
        a connection of its own, or an flock beside the SQLite file."""
        if self.is_sqlite:
            with file_lock(self.engine.url.database, name) as held:
                yield held
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:7], "big")
        with self.engine.connect() as conn:
            held = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
            try:
                yield bool(held)
            finally:
                if held:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")

    def fetch_one(self, stmt, params: dict[str, Any]):
        """One statement on its own (the pull path's fast lane): its first row or None."""
        with self.read() as tx:
            return tx.first(stmt, params)

    def check(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self._work_signal is not None:
            self._work_signal.close()
            self._work_signal = None
        if self.is_sqlite:
            self._sqlite.close()
            self._writer_lock.close()
        self.engine.dispose()


IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection that sat idle, and replace it if the server is gone (a
    restarted database, a proxy's idle timeout); busy connections are trusted."""
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError("idle connection lost") from exc  # the pool retries
