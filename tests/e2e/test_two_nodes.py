"""Two `berth serve` nodes sharing one PostgreSQL database and one blob store hold no state of
their own that a request depends on. They share the deployment's master key (BERTH_MASTER_KEY);
the administrator credentials are in the data dir of the node that bootstrapped first."""
from __future__ import annotations

import os
from urllib.parse import urljoin

import pytest
import requests

from tests.support.berth_node import BerthNode, new_master_key
from tests.support.oci_push import OCI_MANIFEST, digest_of, push_image
from tests.support.two_nodes import push_same_image_through_both

pytestmark = pytest.mark.e2e


@pytest.fixture
def nodes(tmp_path, postgres):
    url = postgres.create_database()
    blobs = tmp_path / "blobs"
    env = {"BERTH_MASTER_KEY": new_master_key()}
    a = BerthNode(tmp_path / "a", database_url=url, blobs_dir=blobs, env=env).start()
    b = BerthNode(tmp_path / "b", database_url=url, blobs_dir=blobs, env=env, credentials_dir=a.data_dir).start()
    assert not (b.data_dir / "admin-credentials").exists(), "the second node bootstrapped another administrator"
    yield a, b
    for node in (a, b):
        if node.daemon and node.daemon.alive():
            node.stop()


def test_push_through_one_pull_through_the_other(nodes):
    a, b = nodes
    layer = os.urandom(2 * 1024 * 1024)
    digest = push_image(a.session(), a.url, "team/app", "v1", b"{}", [layer])
    r = requests.get(f"{b.url}/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST}, auth=b.auth)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    assert requests.get(f"{b.url}/v2/team/app/blobs/{digest_of(layer)}", auth=b.auth).content == layer
    assert requests.get(f"{b.url}/v2/team/app/tags/list", auth=b.auth).json()["tags"] == ["v1"]
    # A token is good on every node, whichever node minted it; none is good without one.
    for node, token_from in ((a, b), (b, a)):
        r = requests.get(f"{node.url}/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST},
                         auth=token_from.auth)
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
        assert requests.get(f"{node.url}/v2/team/app/manifests/v1").status_code == 401


def test_chunked_upload_survives_its_node(nodes):
    a, b = nodes
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = requests.post(f"{a.url}/v2/team/app/blobs/uploads/", auth=a.auth)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    half = len(data) // 2
    r = requests.patch(urljoin(a.url, location), data=data[:half], auth=a.auth,
                       headers={"Content-Range": f"0-{half - 1}"})
    assert r.status_code == 202
    a.kill()  # SIGKILL: its in-memory hash state is gone with it
    status = requests.get(urljoin(b.url, location), auth=b.auth)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{half - 1}"
    r = requests.patch(urljoin(b.url, location), data=data[half:], auth=b.auth,
                       headers={"Content-Range": f"{half}-{len(data) - 1}"})
    assert r.status_code == 202, r.text
    r = requests.put(urljoin(b.url, r.headers["Location"]) + f"?digest={digest_of(data)}", auth=b.auth)
    assert r.status_code == 201, r.text
    assert requests.get(f"{b.url}/v2/team/app/blobs/{digest_of(data)}", auth=b.auth).content == data


def test_the_same_image_pushed_through_both_at_once(nodes):
    a, b = nodes
    layers = [os.urandom(1024 * 1024), os.urandom(300 * 1024)]
    push_same_image_through_both(a, b, layers, 8, chunk_size=256 * 1024)
