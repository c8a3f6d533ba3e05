"""A small tmpfs to run out of space on: mounted for a test (root only), filled with a file
until the kernel says ENOSPC, freed again.

A SQLite database on it should have its write-ahead log truncated before the disk is filled
(``truncate_wal``): SQLite rewrites the log's old pages in place, so a log with room in it
takes small transactions on a full disk, and whether one fits would depend on timing."""
from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.mounts import mounts_under, unmount_under


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (made if missing), unmounted at the end."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root", pytrace=False)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                   check=True, capture_output=True, timeout=30)
    try:
        yield path
    finally:
        unmount_under(path)
        assert not mounts_under(path), f"{path} is still mounted"


def fill(path: Path) -> Path:
    """Fill the filesystem of ``path`` with a file (returned) until no byte more fits."""
    filler = path / "filler"
    block = b"\0" * (256 * 1024)
    with open(filler, "ab", buffering=0) as fh:
        for chunk in (block, b"\0" * 4096, b"\0"):  # big writes, then the last bytes
            while True:
                try:
                    fh.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    assert free_bytes(path) < 4096, f"{free_bytes(path)} bytes still free on {path}"
    return filler


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def truncate_wal(database: Path) -> None:
    """Checkpoint a SQLite database in WAL mode and truncate its log to nothing."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the WAL checkpoint of the test database was blocked"
