"""Replication to another Berth deployment (a site: separate data directory and database): the
source signs the site's ECR API with the site's access key (a sealed secret), makes the
repository there and pushes blobs and manifests to it. A docker push reaches the site and
docker pulls it from there, the same image; an index with its platforms and an SBOM referrer
goes along; a SIGKILL of the source mid-copy and an outage of the site both end with the
image at the site, once; the key never shows in any answer or log."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.dockerd import Dockerd
from tests.support.oci_layout import OciLayout, build_image, build_index
from tests.support.oci_push import digest_of, push_blob
from tests.support.ports import wait_until
from tests.support.skopeo import Skopeo
from tests.support.tarballs import make_tar
from tests.support.tenants import aws, berth_admin

pytestmark = pytest.mark.e2e

REGION = "us-east-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("site-b")).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def source(tmp_path_factory, site):
    node = BerthNode(tmp_path_factory.mktemp("site-a"),
                     env={"BERTH_JOB_LEASE_SECONDS": "5"}).start()
    try:
        _join(node, site, tmp_path_factory.mktemp("site-secret"))
        yield node
    finally:
        node.stop()


def _account(node: BerthNode) -> str:
    return aws(node, admin_key(node.data_dir), "describe-registry")["registryId"]


def _join(node: BerthNode, site: BerthNode, workdir) -> None:
    """The site as node's replication destination, with the site's administrator key."""
    key = admin_key(site.data_dir)
    secret = workdir / "site.json"
    secret.write_text(json.dumps({"accessKeyId": key.id, "secretAccessKey": key.secret}))
    arn = berth_admin(node, "secrets", "put", "replication/site-b", "--secret-file",
                      str(secret), "--account", _account(node))["Secret"]["ARN"]
    secret.unlink()
    listed = berth_admin(node, "replication-sites", "put", _account(site), "--account",
                         _account(node), "--endpoint", site.url, "--secret-arn", arn)
    assert listed["Site"]["SecretArn"] == arn and key.secret not in json.dumps(listed)
    aws(node, admin_key(node.data_dir), "put-replication-configuration",
        "--replication-configuration", json.dumps({"rules": [{"destinations": [
            {"region": REGION, "registryId": _account(site)}]}]}))


def _status(node: BerthNode, repository: str, digest: str) -> dict:
    return aws(node, admin_key(node.data_dir), "describe-image-replication-status",
               "--repository-name", repository, "--image-id", f"imageDigest={digest}")


def _complete(node: BerthNode, repository: str, digest: str) -> bool:
    statuses = _status(node, repository, digest)["replicationStatuses"]
    return bool(statuses) and all(s["status"] == "COMPLETE" for s in statuses)


def test_a_docker_push_reaches_the_other_deployment(source, site, dockerd: Dockerd, tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"site.txt": b"to the second site\n"}))
    here, there = f"127.0.0.1:{source.port}", f"127.0.0.1:{site.port}"
    aws(source, admin_key(source.data_dir), "create-repository", "--repository-name", "dr/web")
    image_id = dockerd.docker("import", str(tarball), f"{here}/dr/web:1").stdout.strip()
    dockerd.login(here, source.token)
    dockerd.login(there, site.token)
    try:
        dockerd.docker("push", f"{here}/dr/web:1")
        digest = requests.get(f"{source.url}/v2/dr/web/manifests/1", auth=source.auth,
                              headers={"Accept": "application/vnd.docker.distribution."
                                       "manifest.v2+json"}).headers["Docker-Content-Digest"]
        assert wait_until(lambda: _complete(source, "dr/web", digest), 60, 0.5)
        dockerd.docker("rmi", "--force", image_id)
        dockerd.docker("pull", f"{there}/dr/web:1")
        pulled = dockerd.docker("image", "inspect", "--format", "{{.Id}}",
                                f"{there}/dr/web:1").stdout.strip()
        assert pulled == image_id
        dockerd.docker("rmi", "--force", image_id)
    finally:
        dockerd.logout(here, check=False)
        dockerd.logout(there, check=False)
    key = admin_key(site.data_dir)
    assert key.secret not in source.log_text()


def test_an_index_and_its_sbom_go_along(source, site, tmp_path):
    images = [build_image([{"a": arch.encode()}], architecture=arch)
              for arch in ("amd64", "arm64")]
    index = build_index(images)
    layout = OciLayout(tmp_path / "multi").write(
        [b for image in images for b in image.blobs] + [index], {"v1": index})
    skopeo = Skopeo(tmp_path)
    skopeo.login(f"127.0.0.1:{source.port}", source.token)
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://127.0.0.1:{source.port}/dr/multi:v1",
                "--all", "--preserve-digests", "--dest-tls-verify=false")
    sbom = b'{"spdxVersion": "SPDX-2.3"}'
    session = source.session()
    push_blob(session, source.url, "dr/multi", sbom)
    push_blob(session, source.url, "dr/multi", b"{}")
    referrer = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": digest_of(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": digest_of(sbom),
                    "size": len(sbom)}],
        "subject": {"mediaType": index.media_type, "digest": index.digest,
                    "size": len(index.data)}}).encode()
    put = session.put(f"{source.url}/v2/dr/multi/manifests/{digest_of(referrer)}",
                      data=referrer,
                      headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    assert wait_until(lambda: _complete(source, "dr/multi", index.digest), 60, 0.5)
    remote = site.session()
    assert remote.get(f"{site.url}/v2/dr/multi/manifests/v1").content == index.data
    for image in images:
        for blob in image.blobs:
            assert remote.get(f"{site.url}/v2/dr/multi/blobs/{blob.digest}").content == \
                blob.data or blob.digest == image.manifest.digest
    assert wait_until(lambda: remote.get(
        f"{site.url}/v2/dr/multi/referrers/{index.digest}").json().get("manifests"), 60, 0.5)


def test_a_sigkill_of_the_source_mid_copy_ends_with_the_image_there_once(source, site,
                                                                         tmp_path):
    layer = os.urandom(256 << 20)
    session = source.session()
    aws(source, admin_key(source.data_dir), "create-repository", "--repository-name", "dr/big")
    image = build_image([{"big.bin": layer}])
    for blob in image.blobs:
        if blob.digest != image.manifest.digest:
            push_blob(session, source.url, "dr/big", blob.data)
    put = session.put(f"{source.url}/v2/dr/big/manifests/1", data=image.manifest.data,
                      headers={"Content-Type": image.manifest.media_type})
    assert put.status_code == 201, put.text
    wait_until(lambda: False, 2.5)  # the copy's job has started by now (1 s polls)
    source.kill()
    source.start()
    assert wait_until(lambda: _complete(source, "dr/big", image.manifest.digest), 180, 1)
    remote = site.session()
    got = remote.get(f"{site.url}/v2/dr/big/manifests/1")
    assert got.content == image.manifest.data
    layer_digest = json.loads(image.manifest.data)["layers"][0]["digest"]
    streamed = remote.get(f"{site.url}/v2/dr/big/blobs/{layer_digest}", stream=True)
    hasher = hashlib.sha256()
    for chunk in streamed.iter_content(1 << 20):
        hasher.update(chunk)
    assert "sha256:" + hasher.hexdigest() == layer_digest
    listed = aws(site, admin_key(site.data_dir), "list-images", "--repository-name",
                 "dr/big")["imageIds"]
    assert listed == [{"imageDigest": image.manifest.digest, "imageTag": "1"}]


def test_a_site_that_is_down_gets_the_image_when_it_is_back(source, site, tmp_path):
    site.stop()
    try:
        image = build_image([{"late": b"while the site was away"}])
        layout = OciLayout(tmp_path / "late").write(image.blobs, {"1": image.manifest})
        skopeo = Skopeo(tmp_path)
        skopeo.login(f"127.0.0.1:{source.port}", source.token)
        aws(source, admin_key(source.data_dir), "create-repository", "--repository-name",
            "dr/late")
        skopeo.copy(f"oci:{layout.path}:1", f"docker://127.0.0.1:{source.port}/dr/late:1",
                    "--preserve-digests", "--dest-tls-verify=false")
        wait_until(lambda: False, 3)
        assert not _complete(source, "dr/late", image.manifest.digest)
    finally:
        site.start()
    assert wait_until(lambda: _complete(source, "dr/late", image.manifest.digest), 120, 1)
    assert site.session().get(f"{site.url}/v2/dr/late/manifests/1").content == \
        image.manifest.data
