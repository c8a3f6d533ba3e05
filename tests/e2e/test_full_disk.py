"""A full disk under a running server (issue 20, item 4): its data directory -- SQLite metadata
and blob files -- on an 8 MiB tmpfs, filled with a file.

While full, every read answers as ever (manifest GET/HEAD, blob GET, tags list, catalog,
DescribeImages, BatchGetImage), although the pull times they would record cannot be written;
every push answers a clear refusal: OCI 507 with an error body (DENIED, "storage is full"),
ECR LimitExceededException -- never a 500, never a reset connection -- and no upload file
keeps a byte. Once space is freed, pushes and pulls work again and the pull made while the
disk was full is on record."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.oci_push import (
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    push_blob,
    push_image,
)
from tests.support.tmpfs import fill, tmpfs, truncate_wal

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
REPO = "full/app"


@pytest.fixture
def node(tmp_path):
    workdir = tmp_path / "node"
    workdir.mkdir()
    with tmpfs(workdir / "data", "8m"):
        node = BerthNode(workdir, extra_args=("--workers", "1"))
        node.start()
        try:
            yield node
        finally:
            node.stop()


def ecr(node: BerthNode):
    """A boto3 ECR client that does not retry (botocore retries LimitExceededException)."""
    key = admin_key(node.data_dir)
    return boto3.session.Session().client(
        "ecr", endpoint_url=node.url, region_name="us-east-1", aws_access_key_id=key.id,
        aws_secret_access_key=key.secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def last_pulled(node: BerthNode, digest: str) -> float | None:
    [(pulled,)] = node.query("SELECT m.last_pulled_at FROM manifests m JOIN repositories r"
                             " ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?",
                             REPO, digest)
    return pulled


def upload_bytes(node: BerthNode) -> dict[str, int]:
    """Upload (and temporary) files that hold bytes."""
    root = node.blobs_dir / "uploads"
    return {p.name: p.stat().st_size for p in root.iterdir() if p.stat().st_size}


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 507, f"{resp.status_code} {resp.text[:300]}"
    assert resp.headers["content-type"].startswith("application/json")
    [error] = resp.json()["errors"]
    assert error["code"] == "DENIED" and "storage is full" in error["message"], error


def assert_limit(call, **params) -> None:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "LimitExceededException", error
    assert "storage is full" in error["Message"]


def refill(disk: Path, filler: Path) -> None:
    """Take whatever room the server's own writes gave back (a closed SQLite connection
    may drop its write-ahead log): the disk is full again for the next request."""
    with open(filler, "ab", buffering=0) as fh:
        for size in (64 * 1024, 4096, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                continue


def test_full_disk(node):
    session = node.session()
    base = node.url
    client = ecr(node)
    layer = os.urandom(MIB)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    digest = push_image(session, base, REPO, "v1", config, [layer])
    manifest = image_manifest(config, [layer])
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    disk = node.data_dir
    truncate_wal(disk / "metadata.db")
    filler = fill(disk)

    # -- reads: as ever ---------------------------------------------------------------------
    pulled_from = time.time()
    got = session.get(f"{base}/v2/{REPO}/manifests/v1", headers={"Accept": OCI_MANIFEST},
                      timeout=30)
    assert got.status_code == 200 and got.content == manifest, got.text[:300]
    head = session.head(f"{base}/v2/{REPO}/manifests/{digest}",
                        headers={"Accept": OCI_MANIFEST}, timeout=30)
    assert head.status_code == 200 and head.headers["docker-content-digest"] == digest
    blob = session.get(f"{base}/v2/{REPO}/blobs/{digest_of(layer)}", timeout=30)
    assert blob.status_code == 200 and blob.content == layer
    tags = session.get(f"{base}/v2/{REPO}/tags/list", timeout=30)
    assert tags.status_code == 200 and tags.json()["tags"] == ["v1"]
    catalog = session.get(f"{base}/v2/_catalog", timeout=30)
    assert catalog.status_code == 200 and catalog.json()["repositories"] == [REPO]
    [detail] = client.describe_images(repositoryName=REPO)["imageDetails"]
    assert detail["imageDigest"] == digest
    images = client.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert [i["imageId"]["imageDigest"] for i in images["images"]] == [digest]
    assert last_pulled(node, digest) is None  # neither pull's time could be written

    # -- pushes: refused, clearly; nothing partial left ------------------------------------
    small, big = os.urandom(64 * 1024), os.urandom(2 * MIB)
    refill(disk, filler)
    assert_refused(session.post(f"{base}/v2/{REPO}/blobs/uploads/?digest={digest_of(small)}",
                                data=small, timeout=30))
    refill(disk, filler)
    assert_refused(session.post(f"{base}/v2/{REPO}/blobs/uploads/?digest={digest_of(big)}",
                                data=big, timeout=30))
    refill(disk, filler)
    started = session.post(f"{base}/v2/{REPO}/blobs/uploads/", timeout=30)
    if started.status_code == 202:  # the metadata found room for the session
        location = base + started.headers["location"]
        refill(disk, filler)
        assert_refused(session.patch(location, data=big, timeout=30))
    else:
        assert_refused(started)
    refill(disk, filler)
    other = image_manifest(config, [layer]).replace(b'"schemaVersion": 2',
                                                     b'"schemaVersion": 2, "annotations": {}')
    assert_refused(session.put(f"{base}/v2/{REPO}/manifests/v2", data=other, timeout=30,
                               headers={"Content-Type": OCI_MANIFEST}))
    refill(disk, filler)
    assert_limit(client.upload_layer_part, repositoryName=REPO, uploadId=upload_id,
                 partFirstByte=0, partLastByte=len(big) - 1, layerPartBlob=big)
    refill(disk, filler)
    assert_limit(client.put_image, repositoryName=REPO, imageTag="v3",
                 imageManifest=other.decode())
    assert upload_bytes(node) == {}

    # -- space freed: everything works again -----------------------------------------------
    filler.unlink()
    fresh = os.urandom(MIB)
    push_blob(session, base, REPO, big, chunk_size=MIB)
    new_digest = push_image(session, base, REPO, "v4", config, [fresh])
    again = session.get(f"{base}/v2/{REPO}/manifests/v4", headers={"Accept": OCI_MANIFEST},
                        timeout=30)
    assert again.status_code == 200 and digest_of(again.content) == new_digest
    upload_id = client.initiate_layer_upload(repositoryName=REPO,
                                             registryId=detail["registryId"])["uploadId"]
    part = os.urandom(4096)
    client.upload_layer_part(repositoryName=REPO, uploadId=upload_id, partFirstByte=0,
                             partLastByte=len(part) - 1, layerPartBlob=part)
    client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id,
                                 layerDigests=["sha256:" + hashlib.sha256(part).hexdigest()])
    client.put_image(repositoryName=REPO, imageTag="v3", imageManifest=other.decode())
    deadline = time.monotonic() + 15  # the server retries the waiting times every 5 s
    while (pulled := last_pulled(node, digest)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pulled is not None and pulled_from - 1 <= pulled <= pulled_from + 10
    log = node.daemon.log_path.read_text(errors="replace")  # whole: log_text() keeps a tail
    assert log.count("could not record pull times") == 1, "logged once, not per pull"
