"""`berth serve --storage s3://bucket/prefix` on Ceph's RADOS gateway: skopeo and docker push
and pull, pulls redirected to the bucket (or proxied with --storage-redirect off), and ECR's
GetDownloadUrlForLayer handing out a URL of the bucket; and blobs Berth encrypts itself on S3,
which are never redirected."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.e2e.test_docker import image_id, push
from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client
from tests.support.ceph import CephCluster, S3Storage
from tests.support.credentials import admin_key
from tests.support.dockerd import Dockerd
from tests.support.log_watch import LOGS
from tests.support.oci_layout import OciLayout, build_image
from tests.support.oci_push import digest_of, push_image
from tests.support.procs import require_binary
from tests.support.skopeo import SKOPEO, Skopeo
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def _node(workdir: Path, storage: S3Storage, *args: str) -> Iterator[BerthNode]:
    node = BerthNode(workdir, args, s3=storage).start()
    LOGS.add(f"berth {workdir.name}", node.daemon.log_path)
    try:
        yield node
    finally:
        LOGS.remove(f"berth {workdir.name}")
        node.stop()


@pytest.fixture(scope="module")
def storage(ceph: CephCluster) -> S3Storage:
    return ceph.storage("registry/blobs")


# The bucket encrypts at rest itself (as S3 does): Berth stores blobs as they are, and pulls
# can go to the bucket.
@pytest.fixture(scope="module")
def node(storage, tmp_path_factory) -> Iterator[BerthNode]:
    yield from _node(tmp_path_factory.mktemp("s3-node"), storage, "--storage-encrypted")


@pytest.fixture(scope="module")
def proxying_node(ceph, tmp_path_factory) -> Iterator[BerthNode]:
    yield from _node(tmp_path_factory.mktemp("s3-proxy"), ceph.storage(), "--storage-encrypted",
                     "--storage-redirect", "off")


@pytest.fixture(scope="module")
def skopeo(node, tmp_path_factory) -> Skopeo:
    require_binary(SKOPEO)
    client = Skopeo(tmp_path_factory.mktemp("skopeo-s3"))
    client.login(f"127.0.0.1:{node.port}", node.token)
    return client


def _layer(seed: bytes, size: int) -> dict[str, bytes]:
    """Layer files that do not compress away: a big blob spans several S3 parts."""
    block = os.urandom(64 * 1024)
    return {f"data/{seed.decode()}.bin": (block * (size // len(block) + 1))[:size] + seed}


def test_skopeo_push_and_pull(node, storage, skopeo, tmp_path):
    image = build_image([{"etc/motd": b"on s3\n"}, {"srv/big.bin": os.urandom(20 * MIB)}])
    source = OciLayout(tmp_path / "src").write(image.blobs, {"v1": image.manifest})
    ref = f"docker://127.0.0.1:{node.port}/team/s3-skopeo:v1"
    skopeo.copy(f"oci:{source.path}:v1", ref, "--preserve-digests")
    for blob in (image.config, *image.layers):
        assert storage.blob(blob.digest) == blob.data  # in the bucket, whole
    assert storage.uploads() == ([], [])  # no upload left anything behind
    skopeo.copy(ref, f"oci:{tmp_path / 'dest'}:v1", "--preserve-digests")
    pulled = OciLayout(tmp_path / "dest")
    assert pulled.ref("v1")["digest"] == image.manifest.digest
    for blob in (image.config, *image.layers):
        assert pulled.blob(blob.digest) == blob.data
    node.assert_consistent()


def test_docker_push_and_pull(node, dockerd: Dockerd, tmp_path):
    host = f"127.0.0.1:{node.port}"
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"hello.txt": b"pushed to s3\n", "big.bin": os.urandom(12 * MIB)}))
    ref = f"{host}/team/s3-docker:1"
    dockerd.login(host, node.token)
    try:
        original = dockerd.docker("import", str(tarball), ref).stdout.strip()
        digest, _ = push(dockerd, ref)
        dockerd.docker("rmi", ref)
        dockerd.docker("pull", f"{host}/team/s3-docker@{digest}")  # blobs through a 307
        assert image_id(dockerd, f"{host}/team/s3-docker@{digest}") == original
        dockerd.docker("rmi", "--force", original)
    finally:
        dockerd.logout(host, check=False)
    node.assert_consistent()


def test_pulls_are_redirected_to_the_bucket(node, ceph):
    layer = os.urandom(9 * MIB + 3)
    push_image(node.session(), node.url, "team/redirect", "v1", b"{}", [layer], chunk_size=4 * MIB)
    url = f"{node.url}/v2/team/redirect/blobs/{digest_of(layer)}"
    r = requests.get(url, auth=node.auth, allow_redirects=False)
    assert r.status_code == 307, r.text
    assert r.headers["Location"].startswith(ceph.endpoint_url + "/")
    assert r.headers["Docker-Content-Digest"] == digest_of(layer)
    assert requests.get(r.headers["Location"]).content == layer  # no Berth credentials needed
    # Followed the way clients do: the credentials stay with the registry's host.
    ranged = requests.get(url, auth=node.auth, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == layer[100:200]
    head = requests.head(url, auth=node.auth)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(layer))
    assert requests.get(url, allow_redirects=False).status_code == 401


def test_pulls_are_proxied_when_redirects_are_off(proxying_node):
    layer = os.urandom(6 * MIB)
    push_image(proxying_node.session(), proxying_node.url, "team/proxied", "v1", b"{}", [layer])
    r = requests.get(f"{proxying_node.url}/v2/team/proxied/blobs/{digest_of(layer)}",
                     auth=proxying_node.auth, allow_redirects=False)
    assert r.status_code == 200 and r.content == layer


@pytest.mark.parametrize("which", ["node", "proxying_node"])
def test_get_download_url_for_layer(which, request, ceph):
    target = request.getfixturevalue(which)
    layer = os.urandom(2 * MIB)
    repository = f"team/download-{which.replace('_', '-')}"
    push_image(target.session(), target.url, repository, "v1", b"{}", [layer])
    ecr = ecr_client(target.url, admin_key(target.data_dir))
    url = ecr.get_download_url_for_layer(repositoryName=repository,
                                         layerDigest=digest_of(layer))["downloadUrl"]
    # From the bucket when redirects are on; from Berth, presigned by Berth, when off.
    assert url.startswith(ceph.endpoint_url + "/" if which == "node" else target.url + "/")
    assert requests.get(url).content == layer


def test_blobs_berth_encrypts_are_sealed_in_the_bucket_and_proxied(ceph, tmp_path):
    storage = ceph.storage("sealed")
    for node in _node(tmp_path / "sealing", storage):  # AES256 repositories: Berth seals
        layer = os.urandom(1024) * (7 * 1024)  # 7 MiB: parts and a tail
        push_image(node.session(), node.url, "team/sealed", "v1", b"{}", [layer])
        r = requests.get(f"{node.url}/v2/team/sealed/blobs/{digest_of(layer)}", auth=node.auth,
                         allow_redirects=False)
        assert r.status_code == 200 and r.content == layer
        assert storage.blob(digest_of(layer)) is None  # not stored as it is
        stored = storage.blob(digest_of(layer), key_ref="aes256")
        assert stored is not None and layer[:1024] not in stored
        assert storage.uploads() == ([], [])


def test_the_log_holds_no_secret(node, ceph):
    """Last in the module: after everything the node did."""
    log = node.log_text()
    assert "s3://" in log and ceph.secret_key not in log
