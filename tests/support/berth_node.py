"""A `berth serve` process on a data directory that outlives it: stop, SIGKILL and restart.

The one way the tests start Berth: the e2e suite's session registry (tests/support/registry_server.py),
``running_node`` (tests/support/berth_server.py) and every test that needs a node of its own go through it.

Berth requires authentication. After the first start the node fetches the administrator's registry token
with `aws ecr get-login-password` (tests/support/ecr_login.py); the administrator key and the token
signing key live in the metadata database, so the token stays valid across restarts. Use ``node.auth``
(``requests``' ``auth=``) or ``node.session()``.

Several nodes of one deployment (one database) need the same master key (``env={"BERTH_MASTER_KEY":
new_master_key()}`` on each) and the administrator credentials of whichever node bootstrapped first
(``credentials_dir=first.data_dir``): only that node's data dir gets the admin-credentials file."""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import sqlite3
import sys
from pathlib import Path

import psycopg
import requests

from tests.support.ceph import S3Storage
from tests.support.daemon import Daemon
from tests.support.ecr_login import http_auth, login_password
from tests.support.ports import free_port, wait_until


def new_master_key() -> str:
    """A fresh master key as BERTH_MASTER_KEY takes it: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()


class BerthNode:
    def __init__(self, workdir: Path, extra_args: tuple[str, ...] = (),
                 database_url: str | None = None, blobs_dir: Path | None = None,
                 env: dict[str, str] | None = None, credentials_dir: Path | None = None,
                 s3: S3Storage | None = None, tls_ca: Path | None = None):
        self.workdir = Path(workdir)
        # HTTPS (the node is started with --tls ...): the CA certificate clients verify with.
        self.tls_ca = tls_ca
        self.data_dir = self.workdir / "data"
        # Where the administrator's credentials file is: this node's data dir unless another
        # node of the same deployment bootstrapped the database.
        self.credentials_dir = Path(credentials_dir) if credentials_dir else self.data_dir
        # Blobs in S3 (tests.support.ceph.S3Storage) instead of files.
        self.s3 = s3
        self.env = {**(s3.env() if s3 else {}), **(env or {})}
        self.token: str | None = None
        self.blobs_dir = Path(blobs_dir) if blobs_dir else self.data_dir / "blobs"
        self.database_url = database_url
        if database_url and not database_url.startswith("sqlite"):
            extra_args = ("--database", database_url, *extra_args)
        if blobs_dir:
            extra_args = ("--storage", str(blobs_dir), *extra_args)
        if s3:
            extra_args = (*s3.args(), *extra_args)
        self.extra_args = extra_args
        self.port = free_port()
        self.daemon: Daemon | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_ca else 'http'}://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        """``requests``' ``auth=``: HTTP Basic AWS:<the administrator's registry token>."""
        assert self.token is not None, "start the node first: its token comes from its first start"
        return http_auth(self.token)

    def session(self) -> requests.Session:
        """A requests session that authenticates as the administrator."""
        session = requests.Session()
        session.auth = self.auth
        if self.tls_ca:
            # Else REQUESTS_CA_BUNDLE, where set, would win over the session's own CA.
            session.trust_env = False
            session.verify = str(self.tls_ca)
        return session

    def start(self) -> "BerthNode":
        self.starts += 1
        argv = [sys.executable, "-m", "berth", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args]
        self.daemon = Daemon(argv, self.workdir / f"server-{self.starts}.log", env=self.env or None).start()
        if not wait_until(self._ready, 60, 0.1):
            log = self.daemon.log_text()
            self.daemon.stop()
            raise RuntimeError(f"berth did not become ready:\n{log}")
        if self.token is None:  # once: the token outlives restarts on the same database
            try:
                self.token = login_password(self.url, self.credentials_dir,
                                            ca_bundle=self.tls_ca)
            except (RuntimeError, OSError, KeyError) as exc:
                log = self.daemon.log_text()
                self.daemon.stop()
                raise RuntimeError(f"could not get a registry token from berth: {exc}\n{log}") from None
        return self

    def _ready(self) -> bool:
        """Up once GET /v2/ answers: 401 without credentials (200 if it ever allowed anonymous access)."""
        if not self.daemon.alive():
            raise RuntimeError(f"berth exited:\n{self.daemon.log_text()}")
        try:
            return requests.get(self.url + "/v2/", timeout=2,
                                verify=str(self.tls_ca) if self.tls_ca else True
                                ).status_code in (200, 401)
        except (requests.RequestException, OSError):  # OSError: the CA file not yet made
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

    def blob_path(self, digest: str, key_ref: str = "") -> Path:
        """Where a blob is stored: under its repository's key ref when Berth seals it
        ("aes256", the default; "kms-<uuid>"), at the top for plain storage."""
        algorithm, hexpart = digest.split(":")
        return self.blobs_dir / "data" / key_ref / algorithm / hexpart[:2] / hexpart

    def blob_bytes(self, digest: str, key_ref: str = "") -> bytes | None:
        """A committed blob's stored bytes (from the bucket on S3 storage); None if absent."""
        if self.s3:
            return self.s3.blob(digest, key_ref)
        path = self.blob_path(digest, key_ref)
        return path.read_bytes() if path.is_file() else None

    def assert_consistent(self) -> None:
        """Every linked blob is whole and matches its digest (sealed ones: stored, and read
        back through the registry); every manifest's references are linked blobs or
        manifests in its repository."""
        unrecorded = self.query(
            "SELECT r.name, l.digest FROM repository_blobs l"
            " JOIN repositories r ON r.id = l.repository_id WHERE NOT EXISTS (SELECT 1"
            " FROM blobs b WHERE b.digest = l.digest AND b.key_ref = r.key_ref)")
        assert not unrecorded, f"links without a stored object: {unrecorded}"
        for digest, size, key_ref, name in self.query(
                "SELECT l.digest, l.size, r.key_ref, min(r.name) FROM repository_blobs l"
                " JOIN repositories r ON r.id = l.repository_id"
                " GROUP BY l.digest, l.size, r.key_ref"):
            stored = self.blob_bytes(digest, key_ref)
            assert stored is not None, (
                f"recorded blob {digest} has no content: "
                f"{self.query('SELECT * FROM blobs WHERE digest = ?', digest)} "
                f"{self.query('SELECT * FROM repository_blobs WHERE digest = ?', digest)}")
            data = stored if not key_ref else requests.get(
                f"{self.url}/v2/{name}/blobs/{digest}", auth=self.auth, timeout=60).content
            assert len(data) == size, (
                f"{digest}: {len(data)} bytes stored, {size} recorded: {data[:200]!r} "
                f"{self.query('SELECT * FROM blobs WHERE digest = ?', digest)} "
                f"{self.query('SELECT * FROM repository_blobs WHERE digest = ?', digest)}")
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
