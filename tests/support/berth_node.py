"""A `berth serve` process on a data directory that outlives it: stop, SIGKILL and restart."""
from __future__ import annotations

import hashlib
import signal
import sqlite3
import sys
from pathlib import Path

import psycopg
import requests

from tests.support.daemon import Daemon
from tests.support.ports import free_port, wait_until


class BerthNode:
    def __init__(self, workdir: Path, extra_args: tuple[str, ...] = (),
                 database_url: str | None = None, blobs_dir: Path | None = None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.blobs_dir = Path(blobs_dir) if blobs_dir else self.data_dir / "blobs"
        self.database_url = database_url
        if database_url and not database_url.startswith("sqlite"):
            extra_args = ("--database", database_url, *extra_args)
        if blobs_dir:
            extra_args = ("--storage", str(blobs_dir), *extra_args)
        self.extra_args = extra_args
        self.port = free_port()
        self.daemon: Daemon | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BerthNode":
        self.starts += 1
        argv = [sys.executable, "-m", "berth", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args]
        self.daemon = Daemon(argv, self.workdir / f"server-{self.starts}.log").start()
        if not wait_until(self._ready, 60, 0.1):
            log = self.daemon.log_text()
            self.daemon.stop()
            raise RuntimeError(f"berth did not become ready:\n{log}")
        return self

    def _ready(self) -> bool:
        if not self.daemon.alive():
            raise RuntimeError(f"berth exited:\n{self.daemon.log_text()}")
        try:
            return requests.get(self.url + "/v2/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs."""
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(timeout=10)
        self.daemon.stop()

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()

    def log_text(self) -> str:
        return self.daemon.log_text() if self.daemon else ""

    # -- looking at the data directory directly -------------------------------------------
    def query(self, sql: str, *args) -> list[tuple]:
        """Read the metadata directly (``?`` placeholders), whichever database holds it."""
        if self.database_url and self.database_url.startswith("postgresql"):
            with psycopg.connect(self.database_url) as conn:
                return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), args)]
        with sqlite3.connect(self.data_dir / "metadata.db") as conn:
            return conn.execute(sql, args).fetchall()

    def blob_path(self, digest: str) -> Path:
        algorithm, hexpart = digest.split(":")
        return self.blobs_dir / "data" / algorithm / hexpart[:2] / hexpart

    def assert_consistent(self) -> None:
        """Every recorded blob is whole and matches its digest; every manifest's references
        are linked blobs or manifests in its repository."""
        for digest, size in self.query("SELECT digest, size FROM blobs"):
            path = self.blob_path(digest)
            assert path.is_file(), f"recorded blob {digest} has no content"
            data = path.read_bytes()
            assert len(data) == size, f"{digest}: {len(data)} bytes on disk, {size} recorded"
            assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        dangling = self.query(
            "SELECT r.repository_id, r.parent_digest, r.child_digest FROM manifest_references r"
            " WHERE (r.kind = 'blob' AND NOT EXISTS (SELECT 1 FROM repository_blobs b"
            "   WHERE b.repository_id = r.repository_id AND b.digest = r.child_digest))"
            " OR (r.kind = 'manifest' AND NOT EXISTS (SELECT 1 FROM manifests m"
            "   WHERE m.repository_id = r.repository_id AND m.digest = r.child_digest))")
        assert not dangling, f"manifests point at missing content: {dangling}"
        orphan_tags = self.query(
            "SELECT t.name FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m"
            " WHERE m.repository_id = t.repository_id AND m.digest = t.digest)")
        assert not orphan_tags, f"tags point at missing manifests: {orphan_tags}"
