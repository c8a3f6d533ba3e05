"""Fresh, migrated metadata databases for in-process tests, of each kind Berth supports.

Migrating takes far longer than copying, so a template is migrated once per session (the
``sqlite_template`` and ``postgres_template`` fixtures of tests/conftest.py) and each user
takes a copy: SQLite by copying the file into its data directory, PostgreSQL by ``CREATE
DATABASE ... TEMPLATE`` (dropped again afterwards). A template is never opened after it is
made: PostgreSQL copies it only while nothing is connected to it."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from berth.config import Settings
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.postgres import PostgresCluster, database_name

DATABASES = ("sqlite", "postgresql")


def migrate_url(url: str) -> None:
    """Migrate the database at ``url`` to the head revision; no connection stays open."""
    db = Database(url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()


def migrated_sqlite(data_dir: Path) -> Path:
    """``data_dir`` with a migrated SQLite metadata database in it (and nothing else);
    returns the database file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate_url(Settings(data_dir=data_dir).database_url)
    path = data_dir / "metadata.db"
    leftovers = sorted(p.name for p in data_dir.iterdir() if p != path)
    assert not leftovers, f"migration left {leftovers} next to the database"
    return path


def migrated_postgres(cluster: PostgresCluster) -> str:
    """The name of a new, migrated database in ``cluster``, to copy as a template."""
    url = cluster.create_database()
    migrate_url(url)
    return database_name(url)


@contextlib.contextmanager
def fresh_database(request: pytest.FixtureRequest, kind: str, data_dir: Path) -> Iterator[str]:
    """A migrated metadata database of ``kind`` ("sqlite" or "postgresql") for a registry on
    ``data_dir``, copied from the session's template. Yields what ``Settings(database=...)``
    takes: "" for SQLite (the embedded default, ``<data_dir>/metadata.db``), else the
    PostgreSQL URL; a PostgreSQL copy is dropped at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), data_dir / "metadata.db")
        yield ""
        return
    assert kind == "postgresql", kind
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        cluster.drop_database(url)
