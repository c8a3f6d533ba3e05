"""Reference-heavy manifests from a hostile client (issue 20, item 3): thousands of pushes of
manifests listing missing layers (and indexes listing missing manifests), each list of a
length not seen before, leave the server's memory flat; a manifest over the reference limit
answers MANIFEST_INVALID, and the issue's 3.5 MB manifest with 32,000 missing layers is
refused at once.

Before the fix every new list length compiled and kept one more SQL statement: some 0.4 KiB
per digest per length, so these pushes grew the server by hundreds of MiB (and the issue's
by gigabytes)."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.memory import tree_rss_bytes

LIMIT = 2000  # BERTH_MAX_MANIFEST_REFERENCES: a setting, not the default (10000)
MIB = 2**20
IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
REPOSITORY = "hostile/refs"


def _descriptors(media_type: str, prefix: str, count: int) -> str:
    return ",".join(f'{{"mediaType":"{media_type}","digest":"sha256:{prefix}{i:048x}",'
                    f'"size":1}}' for i in range(count))


def manifest(seq: int, references: int,
             layer_type: str = "application/vnd.oci.image.layer.v1.tar") -> tuple[bytes, str]:
    """A manifest with ``references`` references, all missing (digests unique to ``seq``):
    an image (config and layers) for even ``seq``, an index (manifests) for odd."""
    prefix = f"{seq:016x}"
    if seq % 2:
        return (f'{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":['
                f'{_descriptors(IMAGE, prefix, references)}]}}').encode(), INDEX
    config = f'{{"mediaType":"application/vnd.oci.image.config.v1+json",' \
             f'"digest":"sha256:{prefix}{"f" * 48}","size":2}}'
    return (f'{{"schemaVersion":2,"mediaType":"{IMAGE}","config":{config},"layers":['
            f'{_descriptors(layer_type, prefix, references - 1)}'
            f']}}').encode(), IMAGE


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> BerthNode:
    started = BerthNode(Path(tmp_path_factory.mktemp("refs")), extra_args=("--workers", "2"),
                        env={"BERTH_MAX_MANIFEST_REFERENCES": str(LIMIT)}).start()
    try:
        yield started
    finally:
        started.stop()


def _put(session: requests.Session, url: str, body: bytes, media_type: str, tag: str):
    return session.put(f"{url}/v2/{REPOSITORY}/manifests/{tag}", data=body,
                       headers={"Content-Type": media_type}, timeout=60)


def _push_all(node: BerthNode, jobs: list[tuple[int, int]], clients: int = 2) -> list[str]:
    """PUT a manifest per (seq, references), from ``clients`` connections at once; the
    unexpected answers."""
    problems: list[str] = []

    def run(share: list[tuple[int, int]]) -> None:
        session = node.session()
        for seq, references in share:
            body, media_type = manifest(seq, references)
            resp = _put(session, node.url, body, media_type, f"t{seq}")
            if resp.status_code != 400 or "MANIFEST_BLOB_UNKNOWN" not in resp.text:
                problems.append(f"{references} references: {resp.status_code} {resp.text[:200]}")

    threads = [threading.Thread(target=run, args=(jobs[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


def test_memory_stays_flat_over_thousands_of_reference_heavy_manifests(node):
    rng = random.Random(20)
    # Warm up (connections, threads, allocator arenas) on lists longer than any to come ...
    warm = [(seq, rng.randrange(601, 700)) for seq in range(200)]
    assert _push_all(node, warm) == []
    before = tree_rss_bytes(node.daemon.pid)
    # ... then 1,200 pushes, each list of a length new to its statement (images: layers,
    # indexes: manifests), every digest new.
    lengths = list(range(1, 601))
    rng.shuffle(lengths)
    measured = [(200 + 2 * i + kind, n) for i, n in enumerate(lengths) for kind in (0, 1)]
    started = time.monotonic()
    assert _push_all(node, measured) == []
    elapsed = time.monotonic() - started
    grown = (tree_rss_bytes(node.daemon.pid) - before) / MIB
    print(f"grew {grown:.1f} MiB over {len(measured)} pushes in {elapsed:.1f} s")
    # A statement kept per length grew the server by ~130 MiB here.
    assert grown < 40, (f"the server grew {grown:.0f} MiB over {len(measured)} manifest "
                        f"pushes ({elapsed:.1f} s)")


def test_over_the_limit_is_manifest_invalid_and_quick(node):
    session = node.session()
    body, media_type = manifest(10**6, LIMIT)
    resp = _put(session, node.url, body, media_type, "at-limit")  # an index: 2,000 manifests
    assert resp.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in resp.text, resp.text[:300]
    for seq in (10**6 + 1, 10**6 + 2):  # an index and an image, one reference too many
        body, media_type = manifest(seq, LIMIT + 1)
        resp = _put(session, node.url, body, media_type, "over")
        assert resp.status_code == 400 and "MANIFEST_INVALID" in resp.text, resp.text[:300]
        assert f"the limit is {LIMIT}" in resp.text
    # The manifest: ~3.5 MB, 32,000 missing layers (it took 1.4 to 6.2 s).
    body, media_type = manifest(10**6 + 4, 32000, layer_type="x")
    assert 3_000_000 < len(body) < 4 * MIB
    started = time.monotonic()
    resp = _put(session, node.url, body, media_type, "huge")
    took = time.monotonic() - started
    assert resp.status_code == 400 and "MANIFEST_INVALID" in resp.text, resp.text[:300]
    assert took < 1.0, f"refused in {took:.2f} s"
    assert session.get(f"{node.url}/v2/{REPOSITORY}/tags/list", timeout=10).status_code == 404
