"""Checks shared by the two-node tests (one deployment, any storage)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.oci_push import digest_of, push_image


def push_same_image_through_both(a, b, layers: list[bytes], pushes: int, chunk_size: int) -> None:
    """``pushes`` concurrent pushes of one image under tags t0.., alternating between the
    nodes, every third monolithic and the others in ``chunk_size`` chunks; then one image,
    every tag, intact layers through both nodes and consistent storage."""
    config = b'{"os": "linux"}'

    def push(i):
        node = (a, b)[i % 2]
        return push_image(node.session(), node.url, "team/same", f"t{i}", config, layers,
                          chunk_size=chunk_size if i % 3 else None)

    with ThreadPoolExecutor(pushes) as pool:
        digests = set(pool.map(push, range(pushes)))
    assert len(digests) == 1
    a.assert_consistent()
    for node in (a, b):
        tags = requests.get(f"{node.url}/v2/team/same/tags/list", auth=node.auth).json()["tags"]
        assert sorted(tags) == sorted(f"t{i}" for i in range(pushes))
        for layer in layers:
            assert requests.get(
                f"{node.url}/v2/team/same/blobs/{digest_of(layer)}", auth=node.auth).content == layer
