"""A throwaway PostgreSQL cluster from Debian's packages: initdb + pg_ctl on a private port
and socket directory, run as the `postgres` user when the tests run as root.

Each user takes a fresh database: empty (``create_database()``), or a copy of a template made
once (``create_database(template=...)``: ``CREATE DATABASE ... TEMPLATE``, a file copy, cheaper
than migrating again), dropped after use (``drop_database``). PostgreSQL copies a template only
while nothing is connected to it: dispose of every engine on a template before copying it.

A CREATE DATABASE takes ~0.4 s (its checkpoints), longer than most tests: a thread per kind
makes READY databases ahead while the tests run, and drops happen on a thread of their own."""
from __future__ import annotations

import glob
import os
import pwd
import queue
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import psycopg

from tests.support.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is missing: install the postgresql package")
    return found[-1]


def database_name(database: str) -> str:
    """The database a ``postgresql://...`` URL names, or the name itself."""
    return database.rsplit("/", 1)[-1] if "://" in database else database


READY = 3  # databases made ahead, per template (and empty ones)


class _Ahead:
    """Databases of one kind made ahead by a thread; ``take`` waits for the next."""

    def __init__(self, make):
        self.made: queue.Queue = queue.Queue(maxsize=READY)
        self.make = make
        threading.Thread(target=self._fill, daemon=True, name="pg-ahead").start()

    def _fill(self) -> None:
        while True:
            try:
                self.made.put(self.make())
            except Exception as exc:  # the cluster stopped, say: tell the next taker
                self.made.put(exc)
                return

    def take(self) -> str:
        found = self.made.get(timeout=300)
        if isinstance(found, Exception):
            raise found
        return found


class PostgresCluster:
    def __init__(self):
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="berth-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.sockets.mkdir()
        self._as_postgres = os.geteuid() == 0
        self._lock = threading.Lock()
        self._ahead: dict[str | None, _Ahead] = {}
        self._drops: queue.Queue = queue.Queue()
        threading.Thread(target=self._drop_all, daemon=True, name="pg-drop").start()
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            for path in (self.base, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.base, 0o755)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> "PostgresCluster":
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync")
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=300")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.base / "server.log"), "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A fresh database's URL: empty, or a copy of ``template`` (a database's name or URL,
        which nothing may be connected to, nor written to once copies are asked for)."""
        key = database_name(template) if template else None
        with self._lock:
            ahead = self._ahead.get(key)
            if ahead is None:
                ahead = self._ahead[key] = _Ahead(lambda: self._create(key))
        return ahead.take()

    def _create(self, template: str | None) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        sql = f'CREATE DATABASE "{name}"'
        if template:
            # FILE_COPY: a template this small copies as files (fsync is off) at least as fast
            # as through the WAL, PostgreSQL 15's default.
            sql += f' TEMPLATE "{database_name(template)}" STRATEGY FILE_COPY'
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)
        return self.url(name)

    def drop_database(self, database: str) -> None:
        """Drop a database (its name or URL), ending any session still connected to it; on
        the dropping thread, after the caller has moved on."""
        self._drops.put(database_name(database))

    def _drop_all(self) -> None:
        while True:
            name = self._drops.get()
            try:
                with psycopg.connect(self.url(), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error:
                pass  # the cluster stopped: its files go with it

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
