"""Replication on a running ``berth serve`` (its jobs doing the work): an image pushed with
skopeo appears in the administrator's registry in another region and in another account's
registry (whose registry policy allows it), pulled byte for byte by each at the plain host
with a token of that region or account, each destination account's webhook receiving its "ECR
Replication Action"; and a SIGKILL right after the push is acknowledged loses nothing: the copy
happens after the restart."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.ecr_login import get_login_password
from tests.support.oci_layout import OciLayout, build_image, build_index
from tests.support.oci_push import OCI_MANIFEST, digest_of, push_blob
from tests.support.ports import wait_until
from tests.support.skopeo import Skopeo
from tests.support.tenants import aws, new_account
from tests.support.webhooks import Webhooks, wait_for

pytestmark = pytest.mark.e2e

EAST, WEST = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("replication")).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def webhooks():
    with Webhooks() as made:
        yield made


def _skopeo(node: BerthNode, workdir: Path, key, region: str) -> Skopeo:
    workdir.mkdir(parents=True, exist_ok=True)
    skopeo = Skopeo(workdir)
    skopeo.login(_host(node), get_login_password(node.url, key, region))
    return skopeo


def _host(node: BerthNode) -> str:
    return f"127.0.0.1:{node.port}"


def _push(skopeo: Skopeo, workdir: Path, ref: str, files: dict):
    image = build_image([files])
    layout = OciLayout(workdir / f"push-{abs(hash(ref))}").write(
        image.blobs, {"latest": image.manifest})
    skopeo.copy(f"oci:{layout.path}:latest", f"docker://{ref}", "--preserve-digests",
                "--dest-tls-verify=false")
    return image


def _pulled(skopeo: Skopeo, workdir: Path, ref: str, image) -> bool:
    """Whether ``ref`` pulls as ``image``, every blob byte for byte."""
    target = workdir / f"pull-{abs(hash((ref, str(workdir))))}"
    done = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{target}:v",
                  check=False)
    if done.returncode != 0:
        return False
    layout = OciLayout(target)
    return (layout.ref("v")["digest"] == image.manifest.digest
            and all(layout.blob(b.digest) == b.data for b in image.blobs))


def test_an_image_reaches_another_region_and_another_account(node, webhooks, tmp_path):
    admin = admin_key(node.data_dir)
    account = aws(node, admin, "describe-registry")["registryId"]
    other, other_key = new_account(node, "replica-site")
    aws(node, other_key, "put-registry-policy", "--policy-text", json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"], "Resource": "*"}]}))
    # Each destination's account is told of the copy it got.
    receiver = webhooks.watch(node, "ECR Replication Action", account, other)
    aws(node, admin, "put-replication-configuration", "--replication-configuration",
        json.dumps({"rules": [{"destinations": [{"region": WEST, "registryId": account},
                                                {"region": EAST, "registryId": other}],
                               "repositoryFilters": [{"filter": "rep/",
                                                      "filterType": "PREFIX_MATCH"}]}]}))
    pusher = _skopeo(node, tmp_path / "east", admin, EAST)
    image = _push(pusher, tmp_path, f"{_host(node)}/rep/app:v1",
                  {"app.txt": b"replicated\n" * 1000})
    west = _skopeo(node, tmp_path / "west", admin, WEST)
    replica = _skopeo(node, tmp_path / "other", other_key, EAST)
    ref = f"{_host(node)}/rep/app:v1"
    assert wait_until(lambda: _pulled(west, tmp_path / "west", ref, image), 60)
    assert wait_until(lambda: _pulled(replica, tmp_path / "other", ref, image), 60)
    statuses = aws(node, admin, "describe-image-replication-status", "--repository-name",
                   "rep/app", "--image-id", "imageTag=v1")["replicationStatuses"]
    assert sorted((s["region"], s["registryId"], s["status"]) for s in statuses) == sorted(
        [(WEST, account, "COMPLETE"), (EAST, other, "COMPLETE")])
    told = wait_for(receiver, "ECR Replication Action", 2)
    assert sorted((e["account"], e["region"], e["detail"]["result"]) for e in told) == sorted(
        [(account, WEST, "SUCCESS"), (other, EAST, "SUCCESS")])
    for event in told:
        assert event["source"] == "aws.ecr" and event["resources"] == []
        assert event["detail"] == {
            "result": "SUCCESS", "repository-name": "rep/app",
            "image-digest": image.manifest.digest, "action-type": "REPLICATE",
            "image-tag": "v1", "source-account": account, "source-region": EAST}


def test_an_index_arrives_with_its_platforms_and_its_referrers(node, tmp_path):
    admin = admin_key(node.data_dir)
    account = aws(node, admin, "describe-registry")["registryId"]
    aws(node, admin, "put-replication-configuration", "--replication-configuration",
        json.dumps({"rules": [{"destinations": [{"region": WEST, "registryId": account}]}]}))
    images = [build_image([{"arch.txt": arch.encode()}], architecture=arch)
              for arch in ("amd64", "arm64")]
    index = build_index(images)
    layout = OciLayout(tmp_path / "multi").write(
        [b for image in images for b in image.blobs] + [index], {"v1": index})
    pusher = _skopeo(node, tmp_path / "east", admin, EAST)
    pusher.copy(f"oci:{layout.path}:v1", f"docker://{_host(node)}/multi/app:v1", "--all",
                "--preserve-digests", "--dest-tls-verify=false")
    east = requests.Session()
    east.auth = ("AWS", get_login_password(node.url, admin, EAST))
    sbom = b'{"spdxVersion": "SPDX-2.3"}'
    for blob in (b"{}", sbom):
        push_blob(east, node.url, "multi/app", blob)
    referrer = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(b"{}"),
                   "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": digest_of(sbom),
                    "size": len(sbom)}],
        "subject": index.descriptor()}).encode()
    assert east.put(f"{node.url}/v2/multi/app/manifests/{digest_of(referrer)}", data=referrer,
                    headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    west = requests.Session()
    west.auth = ("AWS", get_login_password(node.url, admin, WEST))

    def arrived() -> bool:
        found = west.get(f"{node.url}/v2/multi/app/referrers/{index.digest}")
        return found.status_code == 200 and [m["digest"] for m in found.json()[
            "manifests"]] == [digest_of(referrer)]
    assert wait_until(arrived, 60)
    got = west.get(f"{node.url}/v2/multi/app/manifests/v1",
                   headers={"Accept": index.media_type})
    assert got.content == index.data
    for image in images:
        for blob in image.blobs:
            kind = "manifests" if blob is image.manifest else "blobs"
            assert west.get(f"{node.url}/v2/multi/app/{kind}/{blob.digest}",
                            headers={"Accept": OCI_MANIFEST}).content == blob.data


def test_a_sigkill_after_the_push_loses_no_replication(node, tmp_path):
    admin = admin_key(node.data_dir)
    account = aws(node, admin, "describe-registry")["registryId"]
    aws(node, admin, "put-replication-configuration", "--replication-configuration",
        json.dumps({"rules": [{"destinations": [{"region": WEST, "registryId": account}]}]}))
    pusher = _skopeo(node, tmp_path / "east", admin, EAST)
    image = _push(pusher, tmp_path, f"{_host(node)}/killed/app:v1", {"a.txt": b"kill\n"})
    node.kill()  # before the outbox's next delivery (about a second): nothing copied yet
    node.start()
    west = _skopeo(node, tmp_path / "west", admin, WEST)
    assert wait_until(lambda: _pulled(west, tmp_path / "west",
                                      f"{_host(node)}/killed/app:v1", image), 90)


def test_a_sigkill_mid_copy_finishes_after_the_restart(tmp_path):
    """The copy of a 768 MiB layer into a destination sealing with a KMS key (so its bytes are
    copied, for a second or more) is killed while under way; after the restart it is done
    again, once, and the bytes arrive whole."""
    node = BerthNode(tmp_path / "node", env={"BERTH_JOB_LEASE_SECONDS": "5"}).start()
    try:
        admin = admin_key(node.data_dir)
        account = aws(node, admin, "describe-registry")["registryId"]
        aws(node, admin, "create-repository", "--repository-name", "big/app",
            "--encryption-configuration", "encryptionType=KMS", region=WEST)
        aws(node, admin, "put-replication-configuration", "--replication-configuration",
            json.dumps({"rules": [{"destinations": [{"region": WEST,
                                                     "registryId": account}]}]}))
        layer = tmp_path / "layer"
        digest = _random_file(layer, 768 << 20)
        east = requests.Session()
        east.auth = ("AWS", get_login_password(node.url, admin, EAST))
        with layer.open("rb") as body:
            assert east.post(f"{node.url}/v2/big/app/blobs/uploads/?digest={digest}",
                             data=body).status_code == 201
        push_blob(east, node.url, "big/app", b"{}")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": digest_of(b"{}"), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest, "size": 768 << 20}]}).encode()
        assert east.put(f"{node.url}/v2/big/app/manifests/v1", data=manifest,
                        headers={"Content-Type": OCI_MANIFEST}).status_code == 201

        def copying() -> bool:
            return bool(node.query("SELECT 1 FROM replication_tasks WHERE repository = ? "
                                   "AND claimed_by IS NOT NULL", "big/app"))
        assert wait_until(copying, 60, interval=0.02)
        node.kill()
        assert node.query("SELECT status FROM replication_tasks WHERE repository = ?",
                          "big/app") == [("IN_PROGRESS",)]  # killed mid-copy
        node.start()
        west = requests.Session()
        west.auth = ("AWS", get_login_password(node.url, admin, WEST))
        assert wait_until(lambda: west.head(f"{node.url}/v2/big/app/manifests/v1")
                          .status_code == 200, 120)
        got = hashlib.sha256()
        with west.get(f"{node.url}/v2/big/app/blobs/{digest}", stream=True) as response:
            for chunk in response.iter_content(1 << 20):
                got.update(chunk)
        assert f"sha256:{got.hexdigest()}" == digest
        assert node.query("SELECT status FROM replication_tasks WHERE repository = ?",
                          "big/app") == [("COMPLETE",)]
    finally:
        node.stop()


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size >> 20):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            out.write(chunk)
    return f"sha256:{digest.hexdigest()}"
