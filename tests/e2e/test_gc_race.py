"""Garbage collection racing pushes: sweeps run back to back (the node's own job every
second and an operator's `RunGarbageCollection` in a loop) while 64 clients push images that
share layers and delete others. Every acknowledged manifest must then pull whole, every blob
matching its digest; afterwards, deleting everything frees every stored byte."""
from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field

import pytest

from berth.cli.admin_client import AdminClient
from tests.support.berth_node import BerthNode, new_master_key
from tests.support.oci_push import OCI_MANIFEST, digest_of, image_manifest, push_blob

pytestmark = pytest.mark.e2e

CLIENTS = 64
ROUNDS = 3
REPOSITORIES = [f"race/r{i}" for i in range(4)]
SHARED = [os.urandom(2048) + bytes([i]) for i in range(6)]
GRACE = 3  # seconds: short, so sweeps really delete while the clients push
ENV = {"BERTH_GC_GRACE_SECONDS": str(GRACE), "BERTH_GC_INTERVAL_SECONDS": "1",
       "BERTH_EVENT_DELIVERY_SECONDS": "1", "BERTH_MASTER_KEY": new_master_key()}


@dataclass
class Outcome:
    kept: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # -> blob digests
    pushed: int = 0
    deleted: int = 0
    refused: list[str] = field(default_factory=list)  # pushes the registry refused cleanly
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(node: BerthNode, index: int, outcome: Outcome, stop: threading.Event) -> None:
    rng = random.Random(index)
    session = node.session()
    mine: list[tuple[str, str]] = []
    try:
        for round_ in range(ROUNDS):
            repo = rng.choice(REPOSITORIES)
            config = f'{{"client": {index}, "round": {round_}}}'.encode()
            layers = rng.sample(SHARED, 2) + [os.urandom(rng.randint(100, 4096))]
            result = _push(session, node.url, repo, config, layers)
            if result is None:
                with outcome.lock:
                    outcome.refused.append(f"{index}/{round_}")
                continue
            mine.append((repo, result))
            with outcome.lock:
                outcome.pushed += 1
                outcome.kept[(repo, result)] = [digest_of(b) for b in (config, *layers)]
            if len(mine) > 1 and rng.random() < 0.6:  # delete an earlier image of ours
                repo_d, digest = mine.pop(0)
                r = session.delete(f"{node.url}/v2/{repo_d}/manifests/{digest}", timeout=60)
                assert r.status_code == 202, r.text
                with outcome.lock:
                    outcome.deleted += 1
                    del outcome.kept[(repo_d, digest)]
            time.sleep(rng.random() * GRACE / 2)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        with outcome.lock:
            outcome.errors.append(f"client {index}: {exc!r}")


def _push(session, base: str, repo: str, config: bytes, layers: list[bytes]) -> str | None:
    """The manifest's digest once acknowledged; None if the registry refused it cleanly
    (a layer collected between its upload and the manifest: the client would retry)."""
    for blob in (config, *layers):
        push_blob(session, base, repo, blob)
    body = image_manifest(config, layers)
    r = session.put(f"{base}/v2/{repo}/manifests/{digest_of(body)}", data=body,
                    headers={"Content-Type": OCI_MANIFEST}, timeout=60)
    if r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN":
        return None
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


def _sweeper(client: AdminClient, stop: threading.Event, reports: list[dict]) -> None:
    while not stop.is_set():
        reports.append(client.call("RunGarbageCollection", {}))


def _check_pulls(node: BerthNode, kept: dict[tuple[str, str], list[str]]) -> None:
    session = node.session()
    for (repo, digest), blobs in kept.items():
        r = session.get(f"{node.url}/v2/{repo}/manifests/{digest}",
                        headers={"Accept": OCI_MANIFEST}, timeout=60)
        assert r.status_code == 200, f"{repo}@{digest}: {r.status_code} {r.text}"
        for blob in blobs:
            r = session.get(f"{node.url}/v2/{repo}/blobs/{blob}", timeout=60)
            assert r.status_code == 200, f"{repo}@{digest} blob {blob}: {r.status_code}"
            assert "sha256:" + hashlib.sha256(r.content).hexdigest() == blob


def _race(node: BerthNode, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(node.data_dir / "admin-credentials"))
    admin = AdminClient(node.url, "berth-admin", "us-east-1")
    outcome, stop, reports = Outcome(), threading.Event(), []
    sweeper = threading.Thread(target=_sweeper, args=(admin, stop, reports))
    sweeper.start()
    clients = [threading.Thread(target=_client, args=(node, i, outcome, stop))
               for i in range(CLIENTS)]
    try:
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=600)
    finally:
        stop.set()
        sweeper.join(timeout=120)
    assert not outcome.errors, outcome.errors[:5]
    freed = sum(r["ObjectsDeleted"] for r in reports)
    # Most pushes go through; the sweeps ran all along and really deleted things.
    assert outcome.pushed >= CLIENTS * ROUNDS * 0.9, (outcome.pushed, outcome.refused[:5])
    assert len(reports) >= 3 and freed > 0 and outcome.deleted > 0
    _check_pulls(node, outcome.kept)  # while the node's own sweeps still run
    # The whole-database check reads rows, then files: it needs the sweeps quiet.
    node.stop()
    node.env["BERTH_JOBS"] = "false"
    node.start()
    node.assert_consistent()

    # Once everything is deleted and the grace period has passed, nothing stays stored.
    session = node.session()
    for repo, digest in list(outcome.kept):
        assert session.delete(f"{node.url}/v2/{repo}/manifests/{digest}").status_code == 202
    admin.call("RunGarbageCollection", {})  # (jobs are off now) notices what is unlisted
    time.sleep(GRACE + 1)
    report = admin.call("RunGarbageCollection", {})  # links go, and the objects they held
    assert report["ObjectsDeleted"] > 0 and _stored(node) == []
    assert node.query("SELECT count(*) FROM blobs") == [(0,)]


def _stored(node: BerthNode) -> list[str]:
    if node.s3:
        return node.s3.keys("data/")
    root = node.blobs_dir / "data"
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_gc_racing_pushes_on_sqlite_and_files(tmp_path, monkeypatch):
    node = BerthNode(tmp_path / "n", env=ENV).start()
    try:
        _race(node, monkeypatch)
    finally:
        node.stop()


def test_gc_racing_pushes_on_postgresql_and_s3(tmp_path, monkeypatch, postgres, ceph):
    node = BerthNode(tmp_path / "n", database_url=postgres.create_database(),
                     s3=ceph.storage("gc-race"), env=ENV).start()
    try:
        _race(node, monkeypatch)
    finally:
        node.stop()
