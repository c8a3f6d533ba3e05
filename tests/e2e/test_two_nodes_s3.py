"""Two `berth serve` nodes on one PostgreSQL database and one S3 bucket (Ceph's RADOS gateway):
no request depends on the node it reaches, not even a chunked upload whose node was killed
while it was writing a part."""
from __future__ import annotations

import os
import threading
from urllib.parse import urljoin

import pytest
import requests

from tests.support.berth_node import BerthNode, new_master_key
from tests.support.oci_push import OCI_MANIFEST, digest_of, push_image
from tests.support.two_nodes import push_same_image_through_both
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
PART = 8 * MIB  # the default s3_part_size


@pytest.fixture
def storage(ceph):
    return ceph.storage("shared")


@pytest.fixture
def nodes(tmp_path, postgres, storage):
    url = postgres.create_database()
    # The bucket encrypts at rest itself: blobs as they are, pulls redirected to it.
    env = {"BERTH_MASTER_KEY": new_master_key(), "BERTH_STORAGE_ENCRYPTED": "true"}
    a = BerthNode(tmp_path / "a", database_url=url, s3=storage, env=env).start()
    b = BerthNode(tmp_path / "b", database_url=url, s3=storage, env=env,
                  credentials_dir=a.data_dir).start()
    yield a, b
    for node in (a, b):
        if node.daemon and node.daemon.alive():
            node.stop()


def test_push_through_one_pull_through_the_other(nodes, ceph):
    a, b = nodes
    layer = os.urandom(PART + 3 * MIB)
    digest = push_image(a.session(), a.url, "team/app", "v1", b"{}", [layer])
    r = requests.get(f"{b.url}/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST}, auth=b.auth)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    blob_url = f"{b.url}/v2/team/app/blobs/{digest_of(layer)}"
    redirect = requests.get(blob_url, auth=b.auth, allow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["Location"].startswith(ceph.endpoint_url)
    assert requests.get(blob_url, auth=b.auth).content == layer


def _upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


def _parts_uploaded(storage, upload_id: str) -> int:
    """How many parts the upload's live multipart uploads hold (interrupted writes included)."""
    s3 = storage.ceph.client()
    mpus = s3.list_multipart_uploads(Bucket=storage.bucket,
                                     Prefix=f"{storage.prefix}/uploads/{upload_id}/")
    return sum(len(s3.list_parts(Bucket=storage.bucket, Key=u["Key"],
                                 UploadId=u["UploadId"]).get("Parts", []))
               for u in mpus.get("Uploads", []))


def test_chunked_upload_survives_its_node_killed_mid_part(nodes, storage):
    a, b = nodes
    data = os.urandom(2 * PART + 3 * MIB + 17)
    first = PART + MIB + 5  # one part and an odd tail, acknowledged
    r = requests.post(f"{a.url}/v2/team/app/blobs/uploads/", auth=a.auth)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    r = requests.patch(urljoin(a.url, location), data=data[:first], auth=a.auth,
                       headers={"Content-Range": f"0-{first - 1}"})
    assert r.status_code == 202 and r.headers["Range"] == f"0-{first - 1}"
    assert _parts_uploaded(storage, _upload_id(location)) == 1

    # A second PATCH of other bytes stalls after filling part 2; a is killed under it.
    stall = threading.Event()

    def garbage():
        yield b"\xee" * (PART + MIB)
        stall.wait(60)

    patch = threading.Thread(target=lambda: _quietly(
        requests.patch, urljoin(a.url, location), data=garbage(), auth=a.auth,
        headers={"Content-Range": f"{first}-{len(data) - 1}"}))
    patch.start()
    try:
        assert wait_until(lambda: _parts_uploaded(storage, _upload_id(location)) == 2, 60, 0.2)
        a.kill()  # SIGKILL: its in-memory hash state and its writer are gone
    finally:
        stall.set()
        patch.join(30)

    status = requests.get(urljoin(b.url, location), auth=b.auth)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{first - 1}"
    second = 2 * PART + MIB  # crosses part 2 (overwriting the dead writer's) and part 3
    r = requests.patch(urljoin(b.url, location), data=data[first:second], auth=b.auth,
                       headers={"Content-Range": f"{first}-{second - 1}"})
    assert r.status_code == 202, r.text
    # The last chunk comes with the PUT: b re-reads the upload from S3 to verify the digest.
    r = requests.put(urljoin(b.url, r.headers["Location"]) + f"?digest={digest_of(data)}",
                     data=data[second:], auth=b.auth,
                     headers={"Content-Range": f"{second}-{len(data) - 1}"})
    assert r.status_code == 201, r.text
    assert storage.blob(digest_of(data)) == data
    assert requests.get(f"{b.url}/v2/team/app/blobs/{digest_of(data)}", auth=b.auth).content == data
    assert storage.uploads() == ([], [])  # the staged object, tails and multipart uploads too


def _quietly(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except requests.RequestException:
        pass  # the node under it was killed


def test_the_same_image_pushed_through_both_at_once(nodes, storage):
    a, b = nodes
    layers = [os.urandom(PART + MIB), os.urandom(300 * 1024)]
    push_same_image_through_both(a, b, layers, 6, chunk_size=3 * MIB)
    assert storage.uploads() == ([], [])
