"""SIGKILL in the middle of pushes: nothing acknowledged is lost, nothing partial is visible,
and interrupted chunked uploads resume."""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.oci_push import digest_of, image_manifest, push_blob

pytestmark = pytest.mark.e2e

ROUNDS = 4


@dataclass
class Ledger:
    """What the server acknowledged before it died."""
    blobs: list[tuple[str, str]] = field(default_factory=list)          # (repo, digest)
    manifests: list[tuple[str, str, str]] = field(default_factory=list)  # (repo, tag, digest)
    open_uploads: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pusher(base: str, auth: tuple[str, str], repo: str, seed: int, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    session.auth = auth
    n = 0
    try:
        while not stop.is_set():
            n += 1
            layer = os.urandom(rng.randint(1, 6) * 512 * 1024)
            config = f'{{"seed": {seed}, "n": {n}}}'.encode()
            if n % 2:
                _chunked(session, base, repo, layer, ledger)
            else:
                digest = push_blob(session, base, repo, layer)
                with ledger.lock:
                    ledger.blobs.append((repo, digest))
            push_blob(session, base, repo, config)
            manifest = image_manifest(config, [layer])
            tag = f"s{seed}-{n}"
            r = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=manifest,
                            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            assert r.status_code == 201, r.text
            with ledger.lock:
                ledger.manifests.append((repo, tag, digest_of(manifest)))
    except (requests.ConnectionError, requests.Timeout):
        return  # the server was killed


def _chunked(session, base, repo, data, ledger: Ledger) -> None:
    r = session.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    upload = {"repo": repo, "location": r.headers["Location"], "data": data, "acked": 0}
    with ledger.lock:
        ledger.open_uploads.append(upload)
    step = 256 * 1024
    for start in range(0, len(data), step):
        part = data[start:start + step]
        r = session.patch(urljoin(base, upload["location"]), data=part,
                          headers={"Content-Range": f"{start}-{start + len(part) - 1}"})
        assert r.status_code == 202, r.text
        upload["location"] = r.headers["Location"]
        upload["acked"] = start + len(part)
    r = session.put(urljoin(base, upload["location"]) + f"?digest={digest_of(data)}")
    assert r.status_code == 201, r.text
    with ledger.lock:
        ledger.open_uploads.remove(upload)
        ledger.blobs.append((repo, digest_of(data)))


def _resume(base: str, auth: tuple[str, str], upload: dict) -> None:
    url = urljoin(base, upload["location"])
    blob_url = f"{base}/v2/{upload['repo']}/blobs/{digest_of(upload['data'])}"
    r = requests.get(url, auth=auth)
    if r.status_code == 404 and upload["acked"] == len(upload["data"]):
        # Killed after committing the final PUT but before answering it: the blob is there.
        assert requests.get(blob_url, auth=auth).content == upload["data"], "completed upload lost"
        return
    assert r.status_code == 204, f"interrupted upload lost: {r.status_code} {r.text}"
    end = int(r.headers["Range"].split("-")[1])
    offset = end + 1 if upload["acked"] or end > 0 else 0
    assert offset >= upload["acked"], "an acknowledged chunk was lost"
    data = upload["data"]
    if offset < len(data):
        r = requests.patch(urljoin(base, r.headers["Location"]), data=data[offset:], auth=auth,
                           headers={"Content-Range": f"{offset}-{len(data) - 1}"})
        assert r.status_code == 202, r.text
    r = requests.put(urljoin(base, r.headers["Location"]) + f"?digest={digest_of(data)}", auth=auth)
    assert r.status_code == 201, r.text
    assert requests.get(blob_url, auth=auth).content == data


def _check_acknowledged(base: str, auth: tuple[str, str], ledger: Ledger) -> None:
    for repo, digest in ledger.blobs:
        r = requests.get(f"{base}/v2/{repo}/blobs/{digest}", auth=auth)
        assert r.status_code == 200, f"acknowledged blob {digest} lost"
        assert digest_of(r.content) == digest
    for repo, tag, digest in ledger.manifests:
        r = requests.get(f"{base}/v2/{repo}/manifests/{tag}", auth=auth,
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200, f"acknowledged manifest {repo}:{tag} lost"
        assert r.headers["Docker-Content-Digest"] == digest


def test_sigkill_during_pushes_loses_nothing_acknowledged(tmp_path, database_url):
    node = BerthNode(tmp_path, database_url=database_url).start()
    rng = random.Random(1234)
    ledger = Ledger()
    try:
        for round_ in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=_pusher, daemon=True,
                                        args=(node.url, node.auth, f"crash/r{i}", round_ * 10 + i, ledger, stop))
                       for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.5, 2.0))
            node.kill()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            node.start()
            node.assert_consistent()
            # The token from the first start still works: keys and token signing keys are durable.
            _check_acknowledged(node.url, node.auth, ledger)
            for upload in list(ledger.open_uploads):
                _resume(node.url, node.auth, upload)
                ledger.open_uploads.remove(upload)
        assert ledger.blobs and ledger.manifests, "the pushers never got anything acknowledged"
    except BaseException:
        print(node.log_text())
        raise
    finally:
        node.stop()
