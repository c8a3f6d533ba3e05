"""Background work in separate `berth worker` processes: a `berth serve --no-jobs` node frees
nothing itself, a worker on its deployment does; a worker killed in the middle of a sweep
leaves nothing that the next one does not finish; two workers on one PostgreSQL database
share the periodic work, and each piece of garbage is freed once."""
from __future__ import annotations

import hashlib
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.berth_node import BerthNode, new_master_key
from tests.support.gc import (Worker, eventually, gc_env, gc_reports, is_stored, log_problems,
                              plant_orphans, settings_flags, stored_files)
from tests.support.log_watch import LOGS
from tests.support.oci_push import OCI_MANIFEST, digest_of, push_image
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

GRACE = 2


class Deployment:
    """A `berth serve --no-jobs` node and the `berth worker` processes started on its data
    dir (SQLite) or its PostgreSQL database and blob directory."""

    def __init__(self, tmp_path: Path, env: dict[str, str], database_url: str | None = None):
        self.tmp_path = tmp_path
        self.env = env
        blobs = tmp_path / "blobs" if database_url else None
        self.node = BerthNode(tmp_path / "node", extra_args=("--no-jobs", "--workers", "1"),
                              database_url=database_url, blobs_dir=blobs, env=env)
        self.workers: list[Worker] = []

    def start(self) -> "Deployment":
        self.node.start()
        LOGS.add("berth serve --no-jobs", self.node.daemon.log_path)
        return self

    def worker(self, env: dict[str, str] | None = None) -> Worker:
        """Start a worker: on the node's own data dir with SQLite, else on a data dir of its
        own with the node's database, blob directory and master key."""
        n = len(self.workers) + 1
        data_dir = None if self.node.database_url is None else self.tmp_path / f"worker{n}"
        worker = Worker(self.tmp_path / f"worker-{n}.log",
                        settings_flags(self.node, data_dir), {**self.env, **(env or {})})
        self.workers.append(worker)
        LOGS.add(f"berth worker {n}", worker.daemon.log_path)
        return worker.start()

    def stop(self) -> None:
        for n, worker in enumerate(self.workers, 1):
            worker.stop()
            LOGS.remove(f"berth worker {n}")
        self.node.stop()
        LOGS.remove("berth serve --no-jobs")


@pytest.fixture
def deployments(tmp_path) -> Iterator:
    made: list[Deployment] = []

    def make(env: dict[str, str], database_url: str | None = None) -> Deployment:
        made.append(Deployment(tmp_path, env, database_url))
        return made[-1].start()

    yield make
    for deployment in made:
        deployment.stop()


class Images:
    """Images pushed over HTTP: kept ones, and deleted ones whose blobs are garbage except
    the layers a kept image shares."""

    def __init__(self, node: BerthNode):
        self.node = node
        self.session = node.session()
        self.kept: dict[tuple[str, str], list[bytes]] = {}  # (repo, digest) -> blobs
        self.garbage: set[str] = set()

    def push(self, repo: str, tag: str, layers: list[bytes]) -> str:
        config = f'{{"repo": "{repo}", "tag": "{tag}", "n": "{os.urandom(4).hex()}"}}'.encode()
        digest = push_image(self.session, self.node.url, repo, tag, config, layers)
        self.kept[(repo, digest)] = [config, *layers]
        return digest

    def delete(self, repo: str, digest: str) -> None:
        r = self.session.delete(f"{self.node.url}/v2/{repo}/manifests/{digest}", timeout=30)
        assert r.status_code == 202, r.text
        blobs = self.kept.pop((repo, digest))
        still = {digest_of(b) for (r_, _), kept in self.kept.items() if r_ == repo for b in kept}
        self.garbage |= {digest_of(b) for b in blobs} - still

    def kept_digests(self) -> set[str]:
        return {digest_of(b) for blobs in self.kept.values() for b in blobs}

    def assert_pull_whole(self) -> None:
        for (repo, digest), blobs in self.kept.items():
            r = self.session.get(f"{self.node.url}/v2/{repo}/manifests/{digest}",
                                 headers={"Accept": OCI_MANIFEST}, timeout=30)
            assert r.status_code == 200, f"{repo}@{digest}: {r.status_code}"
            for blob in blobs:
                r = self.session.get(f"{self.node.url}/v2/{repo}/blobs/{digest_of(blob)}",
                                     timeout=30)
                assert r.status_code == 200, f"{repo}@{digest}: blob {digest_of(blob)}"
                assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest_of(blob)


def push_and_delete(images: Images, repo: str, kept: int, deleted: int) -> None:
    """Images sharing a base layer, some of them deleted (each one's own layer is garbage)."""
    base = os.urandom(8192)
    doomed = [images.push(repo, f"d{i}", [base, os.urandom(4096 + i)]) for i in range(deleted)]
    for i in range(kept):
        images.push(repo, f"k{i}", [base, os.urandom(2048 + i)])
    for digest in doomed:
        images.delete(repo, digest)


def _freed(node: BerthNode, digests) -> bool:
    return not any(is_stored(node.blobs_dir, d) for d in digests)


def _worker_metric(port: int, name: str, **labels: str) -> float:
    answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return sum(s.value for family in text_string_to_metric_families(answer.text)
               for s in family.samples if s.name == name and labels.items() <= s.labels.items())


def _claimants(node: BerthNode) -> Counter:
    """Jobs done per claiming process (pid)."""
    return Counter(int(claimed_by.split(":")[1]) for (claimed_by,) in node.query(
        "SELECT claimed_by FROM jobs WHERE state = 'done'"))


def test_a_server_without_jobs_frees_nothing_until_a_worker_runs(deployments):
    d = deployments(gc_env(grace=GRACE, interval=1))
    node = d.node
    images = Images(node)
    push_and_delete(images, "worker/app", kept=1, deleted=2)
    assert len(images.garbage) == 4 and all(is_stored(node.blobs_dir, g) for g in images.garbage)

    time.sleep(GRACE + 3)  # the grace period and several sweep intervals
    assert all(is_stored(node.blobs_dir, g) for g in images.garbage), "freed without a worker"
    assert node.query("SELECT count(*) FROM jobs") == [(0,)], "the server ran jobs"

    metrics_port = free_port()
    worker = d.worker({"BERTH_METRICS_PORT": str(metrics_port),
                       "BERTH_METRICS_ANONYMOUS": "true"})
    started = time.monotonic()
    eventually(lambda: _freed(node, images.garbage), "the worker freed the garbage", 30)
    assert time.monotonic() - started < 15
    # The worker's own metrics: its sweeps, scraped from its metrics port.
    eventually(lambda: _worker_metric(metrics_port, "berth_gc_freed_objects_total",
                                      source="unreferenced") >= len(images.garbage),
               "the worker's metrics count what it freed", 10)
    # The sweep's job is counted as done only after its transaction ends, after the frees.
    eventually(lambda: _worker_metric(metrics_port, "berth_jobs_finished_total",
                                      kind="gc-sweep", outcome="done") >= 1,
               "the worker's metrics count its finished sweeps", 10)
    assert all(is_stored(node.blobs_dir, k) for k in images.kept_digests())
    assert set(_claimants(node)) == {worker.pid}

    status, took = worker.terminate()
    assert status == 0, f"the worker exited with {status}:\n{worker.log_text()}"
    assert took < 5, f"the worker took {took:.1f}s to stop"
    assert "worker stopped" in worker.log_text()
    assert node.query("SELECT count(*) FROM jobs WHERE state = 'running'") == [(0,)], \
        "a stopped worker left a job marked running"
    assert not log_problems(worker.log_text()) and not log_problems(node.log_text())
    images.assert_pull_whole()
    node.assert_consistent()


def _wait_then_kill(d: Deployment, worker: Worker, moment: str, orphans: list[str]) -> str:
    """Kill the worker at ``moment`` of its sweep: as soon as it has adopted orphans as rows,
    as soon as it has deleted objects, or at a random time once it is at work; what it had
    got to."""
    node = d.node
    rows = node.query("SELECT count(*) FROM blobs")[0][0]
    files = _count(node, orphans)

    def adopted() -> bool:
        return node.query("SELECT count(*) FROM blobs")[0][0] != rows

    def deleted() -> bool:
        return _count(node, orphans) != files

    at_work = {"adopting": adopted, "deleting": deleted}.get(
        moment, lambda: adopted() or deleted())
    eventually(at_work, f"the sweep got to work ({moment})", 30, 0.02)
    if moment == "random":
        time.sleep(random.uniform(0, 0.3))
    worker.kill()
    left = _count(node, orphans)
    got_to = (f"{moment}: orphan files {files} -> {left}, object rows "
              f"{rows} -> {node.query('SELECT count(*) FROM blobs')[0][0]}")
    assert left > 0, f"the sweep was over before the kill: {got_to}"
    return got_to


def _count(node: BerthNode, orphans: list[str]) -> int:
    return sum(1 for d in orphans if (node.blobs_dir / "data" / "aes256" / "sha256" / d[7:9]
                                      / d[7:]).exists())


def test_workers_killed_mid_sweep_leave_nothing_behind(deployments, postgres):
    # (The walk for orphans may run apart from the sweep, less often: here every second.)
    env = gc_env(grace=GRACE, interval=1, BERTH_MASTER_KEY=new_master_key(),
                 BERTH_JOB_LEASE_SECONDS="3", BERTH_GC_ORPHAN_SCAN_SECONDS="1")
    d = deployments(env, postgres.create_database())
    node = d.node
    images = Images(node)
    for i in range(2):
        push_and_delete(images, f"killed/app{i}", kept=2, deleted=3)
    # Garbage enough for a sweep to take a while: objects a crash left without rows.
    orphans = plant_orphans(node.blobs_dir, 8000)
    garbage = set(orphans) | images.garbage

    progress = []
    for moment in ("adopting", "deleting", "random", "random"):
        progress.append(_wait_then_kill(d, d.worker(), moment, orphans))

    last = d.worker()
    eventually(lambda: _freed(node, garbage), f"all garbage freed after {progress}", 90, 0.5)
    assert sorted(d for (d,) in node.query("SELECT digest FROM blobs")) == sorted(
        images.kept_digests()), "object rows left for freed garbage"
    assert len(stored_files(node.blobs_dir)) == len(images.kept_digests())
    images.assert_pull_whole()
    node.assert_consistent()
    status, _ = last.terminate()
    assert status == 0
    assert "Traceback" not in last.log_text()


def test_two_workers_share_the_periodic_work(deployments, postgres):
    env = gc_env(grace=GRACE, interval=1, BERTH_MASTER_KEY=new_master_key())
    d = deployments(env, postgres.create_database())
    node = d.node
    images = Images(node)
    push_and_delete(images, "shared/app", kept=2, deleted=4)
    a, b = d.worker(), d.worker()
    eventually(lambda: _freed(node, images.garbage), "the garbage was freed", 30)
    eventually(lambda: {a.pid, b.pid} <= set(_claimants(node)),
               "both workers ran jobs", 30)
    # A few more periods (however busy the machine: each kind's job takes its turn).
    eventually(lambda: [s for k, s in node.query("SELECT kind, state FROM jobs")
                        if k == "gc-sweep"].count("done") >= 4, "four sweeps done", 30)
    rows = node.query("SELECT kind, run_at, state, attempts FROM jobs")
    status = [a.terminate(), b.terminate()]
    assert [s for s, _ in status] == [0, 0], status

    # Each period's job was queued once, claimed once, and done (or still to come).
    periodic = Counter((kind, run_at) for kind, run_at, _, _ in rows)
    assert max(periodic.values()) == 1, "a period's job was queued twice"
    assert {(state, attempts) for _, _, state, attempts in rows} <= {
        ("done", 1), ("running", 1), ("queued", 0)}, rows
    sweeps = [state for kind, _, state, _ in rows if kind == "gc-sweep"]
    assert sweeps.count("done") >= 4, rows
    reports = gc_reports(a.log_text()) + gc_reports(b.log_text())
    assert sum(r["objects_deleted"] for r in reports) == len(images.garbage), reports
    assert sum(r["links_unlinked"] for r in reports) == len(images.garbage), reports
    for worker in (a, b):
        assert not log_problems(worker.log_text()), worker.log_text()
    assert not log_problems(node.log_text())
    images.assert_pull_whole()
    node.assert_consistent()
