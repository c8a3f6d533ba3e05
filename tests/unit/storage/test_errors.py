"""Which storage errors mean "full", and how their refusals are counted and logged."""
from __future__ import annotations

import errno
import logging
import sqlite3

import psycopg.errors
import pytest

from berth.storage import errors
from berth.storage.errors import (
    BLOB_STORAGE,
    METADATA_DATABASE,
    StorageFull,
    is_full,
    storage_full,
)


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device", "/data/blobs/uploads/x"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    sqlite3.OperationalError("database or disk is full"),
    psycopg.errors.DiskFull("could not extend file \"base/1/2\": No space left on device"),
])
def test_full(exc):
    assert is_full(exc)


@pytest.mark.parametrize("exc", [
    OSError(errno.EIO, "Input/output error"),
    OSError(errno.EROFS, "Read-only file system"),
    FileNotFoundError(errno.ENOENT, "No such file or directory"),
    sqlite3.OperationalError("database is locked"),
    psycopg.errors.OutOfMemory("out of memory"),
    psycopg.errors.UniqueViolation("duplicate key"),
    ValueError("no"),
])
def test_not_full(exc):
    assert not is_full(exc)


def test_a_real_sqlite_error_is_told_by_its_code(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.db")
    conn.execute("CREATE TABLE t (v BLOB)")
    conn.execute("PRAGMA max_page_count = 3")  # SQLITE_FULL once the file would grow
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    conn.close()
    assert caught.value.sqlite_errorcode == 13
    assert is_full(caught.value)


def test_the_reason_names_no_path():
    made = storage_full(BLOB_STORAGE, OSError(errno.ENOSPC, "No space left on device",
                                              "/secret/path/uploads/abc"))
    assert isinstance(made, StorageFull)
    assert made.storage == BLOB_STORAGE and made.reason == "No space left on device"
    assert "/secret" not in str(made)
    pg = storage_full(METADATA_DATABASE, psycopg.errors.DiskFull('could not extend file "base/1"'))
    assert pg.reason == "disk full" and "base/1" not in str(pg)


def test_refusals_are_counted_and_logged_once_per_interval(monkeypatch, caplog):
    clock = [1000.0]
    monkeypatch.setattr(errors.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(errors, "REFUSALS", errors._Refusals())
    caplog.set_level(logging.WARNING, "berth.storage")
    full = OSError(errno.ENOSPC, "No space left on device")
    for _ in range(50):
        storage_full(BLOB_STORAGE, full)
    storage_full(METADATA_DATABASE, sqlite3.OperationalError("database or disk is full"))
    assert errors.REFUSALS.counts == {BLOB_STORAGE: 50, METADATA_DATABASE: 1}
    assert len(caplog.records) == 2  # one per storage, not one per refusal
    clock[0] += errors.LOG_INTERVAL
    storage_full(BLOB_STORAGE, full)
    assert len(caplog.records) == 3 and "51 refused" in caplog.records[-1].getMessage()
