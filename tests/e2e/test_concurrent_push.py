"""Many clients pushing the same layers at once end with one intact copy of each."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.oci_push import digest_of, push_image

pytestmark = pytest.mark.e2e

CLIENTS = 16


def test_concurrent_pushes_of_the_same_layers(tmp_path, database_url):
    node = BerthNode(tmp_path, database_url=database_url).start()
    layers = [os.urandom(3 * 1024 * 1024), os.urandom(64 * 1024), b"small layer"]
    config = b'{"architecture": "amd64", "os": "linux"}'

    def push(i: int) -> str:
        # Half the clients share one repository, half push to their own; chunked and whole.
        repo = "shared/app" if i % 2 else f"team-{i}/app"
        return push_image(node.session(), node.url, repo, f"v{i}", config, layers,
                          chunk_size=(512 * 1024 if i % 3 == 0 else None))

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            digests = set(pool.map(push, range(CLIENTS)))
        assert len(digests) == 1, "the same image must have one digest"
        node.assert_consistent()
        for layer in layers:
            digest = digest_of(layer)
            stored = node.blob_path(digest, "aes256").read_bytes()  # the deployment key's
            assert len(stored) > len(layer) and layer[:1024] not in stored
            assert node.query("SELECT count(*) FROM blobs WHERE digest = ?", digest) == [(1,)]
        stored = list((node.blobs_dir / "data").rglob("*"))
        assert len([p for p in stored if p.is_file()]) == len(layers) + 1  # + config, no dupes
        assert list((node.blobs_dir / "uploads").iterdir()) == []
        for i in range(CLIENTS):
            repo = "shared/app" if i % 2 else f"team-{i}/app"
            r = requests.get(f"{node.url}/v2/{repo}/blobs/{digest_of(layers[0])}", auth=node.auth)
            assert r.status_code == 200 and r.content == layers[0]
    except BaseException:
        print(node.log_text())
        raise
    finally:
        node.stop()
