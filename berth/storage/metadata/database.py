"""Engine creation and transactions, for SQLite and (later) PostgreSQL alike.

``read()`` and ``write()`` hand out a Connection inside a transaction. On SQLite a write
transaction starts with BEGIN IMMEDIATE: taking the write lock up front means a busy database
waits (busy_timeout) instead of failing when a reader later upgrades to a writer.
"""
from __future__ import annotations

import threading
from collections import namedtuple
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import Connection, Select, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

_IMMEDIATE = "berth_immediate"
_SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                   "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=30000")


class Database:
    def __init__(self, url: str, pool_size: int = 8):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._statements: dict[Select, tuple] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._thread_conns: list = []
        if self.is_sqlite:
            self.engine = create_engine(
                url, poolclass=QueuePool, pool_size=pool_size, max_overflow=32,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=16,
                                        pool_pre_ping=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @property
    def inline_reads(self) -> bool:
        """Whether a hot-path read is cheap enough to run on the event loop (SQLite's are
        tens of microseconds, less than a hop to a thread)."""
        return self.is_sqlite

    def fetch_one(self, stmt: Select, params: dict[str, Any]):
        """Run a prebuilt SELECT and return its first row (a named tuple) or None.

        The pull path's fast lane: the statement is compiled once per database, and executed
        on a raw DB-API connection, skipping SQLAlchemy's per-execution machinery."""
        sql, names, row_type = self._compiled(stmt)
        args = [params[name] for name in names]
        if self.is_sqlite:
            row = self._thread_connection().execute(sql, args).fetchone()
        else:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(sql, args)
                row = cursor.fetchone()
                cursor.close()
                raw.commit()
            finally:
                raw.close()
        return None if row is None else row_type._make(row)

    def _compiled(self, stmt: Select):
        found = self._statements.get(stmt)
        if found is None:
            dialect = self.engine.dialect
            if not dialect.positional:  # e.g. psycopg's pyformat: compile to its %s form
                dialect = type(dialect)(paramstyle="format")
            compiled = stmt.compile(dialect=dialect)
            found_sql, names = compiled.string, list(compiled.positiontup or [])
            row_type = namedtuple("Row", [c.key for c in stmt.selected_columns])
            found = self._statements[stmt] = (found_sql, names, row_type)
        return found

    def _thread_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.dialect.dbapi.connect(
                self.engine.url.database, check_same_thread=False, timeout=30,
                isolation_level=None)
            for pragma in _SQLITE_PRAGMAS:
                conn.execute(pragma)
            self._local.conn = conn
            with self._lock:
                self._thread_conns.append(conn)
        return conn

    def check(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        with self._lock:
            for conn in self._thread_conns:
                conn.close()
            self._thread_conns.clear()
        self._local = threading.local()
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get(_IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

