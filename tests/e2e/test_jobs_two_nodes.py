"""Background jobs across two `berth serve` nodes on one PostgreSQL database: periodic work is
queued once per period and run by one node, and a job whose node is SIGKILLed mid-run is
finished by the other once the dead node's lease lapses."""
from __future__ import annotations

import uuid
from pathlib import Path
from collections import Counter
from urllib.parse import urljoin

import psycopg
import pytest
import requests

from tests.support.berth_node import BerthNode, new_master_key
from tests.support.log_watch import LOGS
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

EXPIRED_ONE = "expired 1 stale uploads"


@pytest.fixture
def start_nodes(tmp_path, postgres):
    """start(env) -> two nodes of one deployment (one database, one blob store), with env."""
    started: list[BerthNode] = []

    def start(env: dict[str, str]) -> tuple[BerthNode, BerthNode, str]:
        url = postgres.create_database()
        env = {"BERTH_MASTER_KEY": new_master_key(), "BERTH_JOB_POLL_SECONDS": "1", **env}
        for name in ("a", "b"):
            node = BerthNode(tmp_path / name, database_url=url, blobs_dir=tmp_path / "blobs",
                             env=env, credentials_dir=started[0].data_dir if started else None)
            started.append(node.start())
            LOGS.add(f"node {name}", node.daemon.log_path)
        return started[0], started[1], url

    yield start
    for name, node in zip("ab", started):
        LOGS.remove(f"node {name}")
        if node.daemon and node.daemon.alive():
            node.stop()


def _upload(node: BerthNode) -> tuple[str, str]:
    """Start an upload and leave it idle: (its path, any node serves it; its id)."""
    r = requests.post(f"{node.url}/v2/team/idle/blobs/uploads/", auth=node.auth)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    return location, location.rsplit("/", 1)[1]


def _eventually(predicate, what: str, timeout: float = 60) -> None:
    assert wait_until(predicate, timeout, 0.1), f"never happened: {what}"


def test_a_periodic_job_runs_once_per_period_across_nodes(start_nodes, tmp_path):
    a, b, _ = start_nodes({"BERTH_UPLOAD_TTL_SECONDS": "2",
                           "BERTH_UPLOAD_EXPIRY_INTERVAL_SECONDS": "1"})
    path, upload_id = _upload(a)
    assert (tmp_path / "blobs" / "uploads" / upload_id).exists()
    _eventually(lambda: not a.query("SELECT id FROM uploads WHERE id = ?", upload_id),
                "the idle upload expired")
    assert requests.get(urljoin(b.url, path), auth=b.auth).status_code == 404
    assert not (tmp_path / "blobs" / "uploads" / upload_id).exists()

    def done():
        return a.query("SELECT count(*) FROM jobs WHERE kind = 'expire-uploads'"
                       " AND state = 'done'")[0][0]
    _eventually(lambda: done() >= 8, "eight periods of upload expiry")
    rows = a.query("SELECT run_at, state, attempts FROM jobs WHERE kind = 'expire-uploads'")
    # Both nodes enqueue every period; each period's job exists once and was claimed once.
    assert max(Counter(run_at for run_at, _, _ in rows).values()) == 1
    assert {(state, attempts) for _, state, attempts in rows if state != "running"} == {
        ("done", 1)}


def test_a_killed_nodes_job_is_finished_by_the_other(start_nodes, tmp_path):
    a, b, db_url = start_nodes({
        "BERTH_UPLOAD_TTL_SECONDS": "1",
        "BERTH_UPLOAD_EXPIRY_INTERVAL_SECONDS": "86400",  # only the job queued below matters
        "BERTH_JOB_LEASE_SECONDS": "3"})
    path, upload_id = _upload(a)
    assert (tmp_path / "blobs" / "uploads" / upload_id).exists()
    [(created_at,)] = a.query("SELECT created_at FROM uploads WHERE id = ?", upload_id)
    # Holding the upload's row lock blocks the expiry job in its DELETE: its node is then
    # mid-job, renewing its lease, until it is killed.
    with psycopg.connect(db_url) as lock:
        assert lock.execute("SELECT id FROM uploads WHERE id = %s FOR UPDATE",
                            (upload_id,)).fetchall()
        job_id = _enqueue_expiry(db_url, run_at=created_at + 2)  # the upload is stale by then
        holder, survivor = _holder_and_survivor(a, b, job_id)
        first_lease = _job(a, job_id)["lease_until"]
        _eventually(lambda: _job(a, job_id)["lease_until"] > first_lease,
                    "the holder renewed its lease")
        holder.kill()
        _eventually(lambda: _job(a, job_id)["attempts"] == 2,
                    "another node claimed the job once the dead node's lease lapsed")
        assert _job(a, job_id)["state"] == "running"
        assert _node_of(_job(a, job_id)["claimed_by"], a, b) is survivor
        lock.rollback()  # the dead node's DELETE then rolls back with its connection
    _eventually(lambda: _job(a, job_id)["state"] == "done", "the survivor finished the job")
    assert _node_of(_job(a, job_id)["claimed_by"], survivor) is survivor
    assert _job(a, job_id)["attempts"] == 2
    assert not a.query("SELECT id FROM uploads WHERE id = ?", upload_id)
    # Asked of the survivor: the holder (a or b) is dead.
    assert requests.get(urljoin(survivor.url, path), auth=survivor.auth).status_code == 404
    assert not (tmp_path / "blobs" / "uploads" / upload_id).exists()
    assert "stopped renewing its lease; claimed again" in survivor.log_text()
    # The stale upload was expired exactly once: the dead node's attempt never committed.
    assert (holder.log_text() + survivor.log_text()).count(EXPIRED_ONE) == 1


def _enqueue_expiry(db_url: str, run_at: float) -> str:
    """Queue an upload expiry job the way a node does (SQL, as the nodes share it)."""
    job_id = uuid.uuid4().hex
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, dedup_key, payload, state, run_at, attempts,"
            " max_attempts, created_at) VALUES (%s, 'expire-uploads', %s, '{}', 'queued', %s,"
            " 0, 5, %s)", (job_id, f"e2e-{job_id}", run_at, run_at))
    return job_id


def _job(node: BerthNode, job_id: str) -> dict:
    [row] = node.query("SELECT state, claimed_by, attempts, lease_until FROM jobs WHERE id = ?",
                       job_id)
    return dict(zip(("state", "claimed_by", "attempts", "lease_until"), row))


def _node_of(claimed_by: str, *nodes: BerthNode) -> BerthNode:
    """The node a claimant (host:pid:nonce) runs in: `berth serve` itself (one worker) or one
    of the worker processes it started."""
    pid = int(claimed_by.split(":")[1])
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    [node] = [n for n in nodes if n.daemon.pid in (pid, parent)]
    return node


def _holder_and_survivor(a: BerthNode, b: BerthNode, job_id: str):
    _eventually(lambda: _job(a, job_id)["state"] == "running", "a node claimed the job")
    row = _job(a, job_id)
    assert row["attempts"] == 1
    holder = _node_of(row["claimed_by"], a, b)
    return holder, (b if holder is a else a)
