"""Helpers for the in-process OCI Distribution API tests: an app on a fresh data directory,
content builders, error-body checks and a snapshot of what the registry has stored."""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg

with warnings.catch_warnings():
    # Starlette warns that its TestClient's httpx support is deprecated; it still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from berth.app import create_app
from berth.config import Settings
from tests.support.credentials import admin_key, basic
from tests.support.metadata_templates import migrated_sqlite

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# The error codes of the OCI Distribution spec (plus the pagination code distribution uses).
ERROR_CODES = frozenset({
    "NAME_UNKNOWN", "NAME_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID",
    "DIGEST_INVALID", "SIZE_INVALID", "TAG_INVALID", "UNSUPPORTED", "DENIED", "UNAUTHORIZED",
    "PAGINATION_NUMBER_INVALID",
})

SNAPSHOT_TABLES = ("repositories", "blobs", "repository_blobs", "manifests", "tags",
                   "manifest_references")

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def next_link(response) -> str | None:
    """The target of a Link: <...>; rel="next" header, or None."""
    raw = response.headers.get("link")
    if raw is None:
        return None
    match = _LINK.search(raw)
    assert match, f"malformed Link header {raw!r}"
    return match.group(1)


def error_codes(response) -> list[str]:
    """Check the OCI error body shape and return its codes."""
    assert response.headers.get("content-type", "").startswith("application/json"), \
        f"error {response.status_code} has Content-Type {response.headers.get('content-type')!r}"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], \
        f"not an OCI error body: {response.text[:300]}"
    codes = []
    for item in body["errors"]:
        assert isinstance(item, dict), item
        assert isinstance(item.get("code"), str), item
        assert isinstance(item.get("message"), str), item
        codes.append(item["code"])
    return codes


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, \
        f"expected {status} {code}, got {response.status_code}: {response.text[:300]}"
    codes = error_codes(response)
    assert code in codes, f"expected error code {code}, got {codes}"


@dataclass
class Image:
    repo: str
    digest: str
    body: bytes
    media_type: str
    config: bytes
    layers: list[bytes] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.body)

    def descriptor(self, **extra: Any) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


class Oci:
    """A TestClient on a registry with its own data directory and metadata database (SQLite
    in the data directory, or PostgreSQL at ``database_url``)."""

    def __init__(self, client: TestClient, data_dir: Path, database_url: str):
        self.client = client
        self.data_dir = data_dir
        self.database_url = database_url
        self._pg: psycopg.Connection | None = None  # for reading PostgreSQL, opened once

    def close(self) -> None:
        """Close this object's own connection to the database (the app's are the app's)."""
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    @property
    def database(self) -> str:
        """The kind of metadata database: "sqlite" or "postgresql"."""
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    # -- raw verbs ---------------------------------------------------------------------------
    def request(self, method: str, url: str, **kwargs):
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def head(self, url: str, **kwargs):
        return self.client.head(url, **kwargs)

    def put(self, url: str, **kwargs):
        return self.client.put(url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.client.post(url, **kwargs)

    def patch(self, url: str, **kwargs):
        return self.client.patch(url, **kwargs)

    def delete(self, url: str, **kwargs):
        return self.client.delete(url, **kwargs)

    # -- content -----------------------------------------------------------------------------
    def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        digest = digest_of(data, algorithm)
        resp = self.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data,
                         headers={"Content-Type": "application/octet-stream"})
        assert resp.status_code == 201, f"push blob to {repo}: {resp.status_code} {resp.text}"
        return digest

    def start_upload(self, repo: str) -> str:
        resp = self.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        assert resp.status_code == 202, f"start upload in {repo}: {resp.status_code} {resp.text}"
        return resp.headers["location"]

    def put_manifest(self, repo: str, reference: str, body: bytes | dict,
                     media_type: str | None = OCI_MANIFEST):
        if isinstance(body, dict):
            body = canonical(body)
        headers = {"Content-Type": media_type} if media_type else {}
        return self.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers)

    def push_manifest(self, repo: str, reference: str, doc: dict,
                      media_type: str = OCI_MANIFEST) -> tuple[str, bytes]:
        body = canonical(doc)
        resp = self.put_manifest(repo, reference, body, media_type)
        assert resp.status_code == 201, \
            f"push manifest {repo}:{reference}: {resp.status_code} {resp.text}"
        return sha256(body), body

    def push_image(self, repo: str, tag: str | None = None, *,
                   layers: tuple[bytes, ...] = (b"layer",),
                   config: bytes | None = None, media_type: str = OCI_MANIFEST,
                   config_type: str | None = None, **extra: Any) -> Image:
        docker = media_type == DOCKER_MANIFEST
        if config is None:
            config = canonical({"architecture": "amd64", "os": "linux", "tag": tag or "",
                                "repo": repo})
        config_type = config_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        self.push_blob(repo, config)
        for layer in layers:
            self.push_blob(repo, layer)
        doc = {"schemaVersion": 2, "mediaType": media_type,
               "config": descriptor(config_type, config),
               "layers": [descriptor(layer_type, layer) for layer in layers], **extra}
        body = canonical(doc)
        resp = self.put_manifest(repo, tag or sha256(body), body, media_type)
        assert resp.status_code == 201, f"push image {repo}:{tag}: {resp.status_code} {resp.text}"
        return Image(repo, sha256(body), body, media_type, config, list(layers))

    def push_index(self, repo: str, tag: str | None, children: list[Image],
                   media_type: str = OCI_INDEX, **extra: Any) -> Image:
        doc = {"schemaVersion": 2, "mediaType": media_type,
               "manifests": [c.descriptor(platform={"architecture": f"arch{i}", "os": "linux"})
                             for i, c in enumerate(children)], **extra}
        body = canonical(doc)
        resp = self.put_manifest(repo, tag or sha256(body), body, media_type)
        assert resp.status_code == 201, f"push index {repo}:{tag}: {resp.status_code} {resp.text}"
        return Image(repo, sha256(body), body, media_type, b"")

    # -- what is stored ----------------------------------------------------------------------
    def blob_files(self) -> set[str]:
        root = self.data_dir / "blobs" / "data"
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Callable[..., list[tuple]]]:
        """A read-only look at the metadata, outside the app: run(sql, *args) with ``?``
        placeholders returns the rows as tuples."""
        if self.database == "postgresql":
            if self._pg is None:  # autocommit: each statement sees what is committed now
                self._pg = psycopg.connect(self.database_url, autocommit=True,
                                           options="-c default_transaction_read_only=on")
            pg = self._pg
            yield lambda sql, *args: [tuple(row) for row in
                                      pg.execute(sql.replace("?", "%s"), args)]
            return
        lite = sqlite3.connect(f"file:{self.data_dir / 'metadata.db'}?mode=ro", uri=True)
        try:
            yield lambda sql, *args: lite.execute(sql, args).fetchall()
        finally:
            lite.close()

    def query(self, sql: str, *args: Any) -> list[tuple]:
        """Rows of ``sql`` (``?`` placeholders) read directly from the metadata database."""
        with self._reader() as run:
            return run(sql, *args)

    def snapshot(self) -> dict:
        """The metadata tables and blob files: equal snapshots, nothing changed. Rows are
        sorted (by their repr, the same for both databases' drivers), not in the order the
        database happens to return them."""
        with self._reader() as run:
            tables = {t: sorted(map(repr, run(f"SELECT * FROM {t}"))) for t in SNAPSHOT_TABLES}
        return {"tables": tables, "files": sorted(self.blob_files())}


@contextlib.contextmanager
def running_registry(data_dir: Path, database: str | None = None) -> Iterator[Oci]:
    """A registry on ``data_dir``. ``database`` is a migrated metadata database as
    ``Settings(database=...)`` takes it ("": SQLite already in ``data_dir``, as
    tests/support/metadata_templates.py's fresh_database leaves it; or a PostgreSQL URL);
    None migrates a SQLite database in ``data_dir`` here."""
    if database is None:
        migrated_sqlite(data_dir)
        database = ""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database=database)
    app = create_app(settings, run_jobs=False)
    token, _ = app.app.state.iam.tokens.mint(admin_key(data_dir).id)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False,
                    headers={"Authorization": basic(token)}) as client:
        oci = Oci(client, data_dir, settings.database_url)
        try:
            yield oci
        finally:
            oci.close()
