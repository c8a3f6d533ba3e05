"""The OCI API on a full disk (a tmpfs holding the data directory: blobs, and on SQLite the
metadata too): pulls answer as ever, pushes answer 507 with an OCI error body (DENIED, the
storage is full) and leave no upload bytes behind; once space is freed, pushes work and the
pull time of a pull made while full is written."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.metadata_templates import DATABASES, fresh_database
from tests.support.tmpfs import fill, tmpfs, truncate_wal

from .support import OCI_LAYER, assert_error, canonical, descriptor, sha256

MIB = 1024 * 1024


@pytest.fixture(params=DATABASES)
def full(request, tmp_path, monkeypatch) -> Iterator:
    """(oci, the pushed image, the filler file) with the data directory's disk full."""
    from berth.registry.images import pulls

    from .support import running_registry

    monkeypatch.setattr(pulls, "RETRY_SECONDS", 0.1)
    with tmpfs(tmp_path / "data", "6m") as data_dir:
        with fresh_database(request, request.param, data_dir) as database:
            with running_registry(data_dir, database) as oci:
                image = oci.push_image("team/app", "v1", layers=(os.urandom(MIB),))
                if oci.database == "sqlite":
                    truncate_wal(data_dir / "metadata.db")
                yield oci, image, fill(data_dir)


def upload_files(data_dir: Path) -> dict[str, int]:
    root = data_dir / "blobs" / "uploads"
    return {p.name: p.stat().st_size for p in root.iterdir()}


def last_pulled(oci, digest: str) -> float | None:
    [(pulled,)] = oci.query("SELECT m.last_pulled_at FROM manifests m JOIN repositories r"
                            " ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?",
                            "team/app", digest)
    return pulled


def assert_full(resp) -> None:
    assert_error(resp, 507, "DENIED")
    assert "storage is full" in resp.json()["errors"][0]["message"]


def test_pulls_go_on_and_pushes_are_refused_clearly(full):
    oci, image, filler = full
    started = time.time()
    # -- reads: as ever ---------------------------------------------------------------------
    got = oci.get("/v2/team/app/manifests/v1", headers={"Accept": image.media_type})
    assert got.status_code == 200 and got.content == image.body  # its pull time fails
    assert oci.head("/v2/team/app/manifests/v1",
                    headers={"Accept": image.media_type}).status_code == 200
    blob = oci.get(f"/v2/team/app/blobs/{sha256(image.layers[0])}")
    assert blob.status_code == 200 and blob.content == image.layers[0]
    assert oci.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
    assert oci.get("/v2/_catalog").json()["repositories"] == ["team/app"]
    if oci.database == "sqlite":  # the pull's time could not be written
        assert last_pulled(oci, image.digest) is None

    # -- pushes: 507 DENIED, nothing left behind ----------------------------------------
    small = os.urandom(64 * 1024)  # stored in one step
    assert_full(oci.post(f"/v2/team/app/blobs/uploads/?digest={sha256(small)}", content=small))
    big = os.urandom(2 * MIB)      # streamed into an upload
    assert_full(oci.post(f"/v2/team/app/blobs/uploads/?digest={sha256(big)}", content=big))
    started_upload = oci.post("/v2/team/app/blobs/uploads/")
    if started_upload.status_code == 202:  # the metadata had room for the session
        location = started_upload.headers["location"]
        assert_full(oci.patch(location, content=big))
        assert_error(oci.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")
    else:
        assert_full(started_upload)
    # No upload file is left: each failed write's is removed at once, and so is a session's
    # whose row could not be written.
    assert upload_files(oci.data_dir) == {}
    doc = {"schemaVersion": 2, "mediaType": image.media_type,
           "config": descriptor("application/vnd.oci.image.config.v1+json", image.config),
           "layers": [descriptor(OCI_LAYER, image.layers[0])], "annotations": {"new": "1"}}
    pushed = oci.put_manifest("team/app", "v2", canonical(doc))
    if oci.database == "sqlite":
        assert_full(pushed)
    else:  # the metadata is elsewhere, with room: only blobs are refused
        assert pushed.status_code == 201

    # -- space freed: pushes work, the pull made while full is on record --------------------
    filler.unlink()
    oci.push_blob("team/app", big)
    oci.push_image("team/app", "v3", layers=(b"after",))
    deadline = time.monotonic() + 10
    while (pulled := last_pulled(oci, image.digest)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pulled is not None and started - 1 <= pulled <= time.time()
