"""Errors of the storage as a whole, blob storage and metadata database alike.

``StorageFull`` is what a write that found no room raises, whichever storage refused it: the
blob files' filesystem (ENOSPC or EDQUOT on a write, fsync or rename), SQLite ("database or
disk is full") or PostgreSQL (disk_full). The front-ends answer it with their protocol's
"storage full" refusal, never as an internal error. Each refusal is counted; the log says so
once per ``LOG_INTERVAL`` per storage, not once per request.
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger("berth.storage")

BLOB_STORAGE = "blob storage"
METADATA_DATABASE = "metadata database"

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13          # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"    # PostgreSQL's disk_full SQLSTATE

# At most one log line per storage per this many seconds while it stays full.
LOG_INTERVAL = 60.0


class StorageFull(Exception):
    """A write found no room in the registry's storage; nothing of it was kept."""

    def __init__(self, storage: str, reason: str):
        super().__init__(f"the registry's {storage} is full ({reason})")
        self.storage = storage  # BLOB_STORAGE or METADATA_DATABASE
        self.reason = reason    # what the storage said, without paths or names


def is_full(exc: BaseException) -> bool:
    """Whether ``exc``, an error of a storage's own kind, says it has no room left."""
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF == _SQLITE_FULL
        return "database or disk is full" in str(exc)
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL  # psycopg's DiskFull


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno)  # never the file name: clients see this
    if isinstance(exc, sqlite3.Error):
        return "database or disk is full"
    return "disk full"


class _Refusals:
    """How many writes each storage refused for want of room, logged at a bounded rate."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}

    def add(self, storage: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            count = self.counts[storage] = self.counts.get(storage, 0) + 1
            last = self._logged_at.get(storage)
            if last is not None and now - last < LOG_INTERVAL:
                return
            self._logged_at[storage] = now
        log.warning("the registry's %s is full (%s): writes are refused until space is "
                    "freed (%d refused so far)", storage, reason, count)


REFUSALS = _Refusals()


def storage_full(storage: str, exc: BaseException) -> StorageFull:
    """The StorageFull to raise for ``exc`` (which ``is_full``), counted and logged."""
    reason = _reason(exc)
    REFUSALS.add(storage, reason)
    return StorageFull(storage, reason)
