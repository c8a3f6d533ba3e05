"""Prometheus metrics of a real 2-worker server: both workers' counts in one scrape, the API
port's authorization, the separate anonymous port, and the Grafana dashboard's queries
referring only to metrics a scrape has."""
from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from berth.observability.prometheus import scratch_base
from tests.support.berth_node import BerthNode
from tests.support.oci_push import push_image
from tests.support.ports import free_port, wait_until

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "berth.json"
MANIFEST_GET = (("method", "GET"), ("protocol", "oci"),
                ("route", "/v2/{name:path}/manifests/{reference}"), ("status", "200"))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    port = free_port()
    server = BerthNode(tmp_path_factory.mktemp("metrics"),
                       extra_args=("--workers", "2", "--metrics-port", str(port)),
                       env={"BERTH_METRICS_ANONYMOUS": "true"}).start()
    server.metrics_port = port
    try:
        yield server
    finally:
        server.stop()


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _scrape(node) -> dict:
    answer = requests.get(node.url + "/metrics", auth=node.auth, timeout=30)
    assert answer.status_code == 200, answer.text
    return _samples(answer.text)


def _per_worker(node, tmp_path: Path) -> dict[str, float]:
    """Manifest GETs each process's own file holds (read apart from the others)."""
    # Off the data volume (a full data disk must not SIGBUS a worker through its mmap).
    directory = next((scratch_base(node.data_dir) / "metrics").iterdir())
    counts = {}
    for db in directory.glob("counter_*.db"):
        alone = tmp_path / db.stem
        alone.mkdir(parents=True)
        shutil.copy(db, alone / db.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(alone))
        for family in registry.collect():
            for s in family.samples:
                if s.name == "berth_http_requests_total" and \
                        tuple(sorted(s.labels.items())) == MANIFEST_GET:
                    counts[db.stem] = s.value
    return counts


def _pull(node, path: str, times: int) -> None:
    def one(_):
        # A connection each: the kernel hands each to whichever worker accepts first.
        answer = requests.get(node.url + path, auth=node.auth, timeout=30,
                              headers={"Connection": "close"})
        assert answer.status_code == 200
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(times)))


def test_both_workers_counts_add_up_in_one_scrape(node, tmp_path):
    session = node.session()
    push_image(session, node.url, "metrics/web", "v1", b'{"config": 1}', [b"layer" * 1000])
    before = _scrape(node)
    pulled = 0
    for _ in range(10):  # until both workers have answered some
        _pull(node, "/v2/metrics/web/manifests/v1", 40)
        pulled += 40
        per_worker = _per_worker(node, tmp_path / str(pulled))
        if len([v for v in per_worker.values() if v]) >= 2:
            break
    counted = before.get(("berth_http_requests_total", MANIFEST_GET), 0) + pulled
    # Observers run once a response is out: the last ones may land a moment after it.
    assert wait_until(lambda: _scrape(node)[("berth_http_requests_total", MANIFEST_GET)]
                      == counted, 10)
    after = _scrape(node)
    per_worker = _per_worker(node, tmp_path / "final")
    assert len([v for v in per_worker.values() if v]) >= 2, per_worker
    assert sum(per_worker.values()) == after[("berth_http_requests_total", MANIFEST_GET)]
    assert after[("berth_pushed_bytes_total", (("kind", "blob"),))] >= 5000 + 13
    assert after[("berth_manifests_pushed_total", (("kind", "image"),))] >= 1
    assert after[("berth_tags_pushed_total", (("change", "created"),))] >= 1


def test_the_api_port_needs_the_administrators_token(node):
    refused = requests.get(node.url + "/metrics", timeout=10)
    assert refused.status_code == 401
    bearer = requests.get(node.url + "/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {node.token}"})
    assert bearer.status_code == 200
    key = ("berth_authorization_refusals_total",
           (("protocol", "metrics"), ("reason", "unauthenticated")))
    # The refusal may have been counted by another worker, which flushes within a second.
    assert wait_until(lambda: _scrape(node).get(key, 0) >= 1, 10, 0.2)


def test_the_separate_port_is_anonymous_when_configured(node):
    answer = requests.get(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=10)
    assert answer.status_code == 200
    assert "berth_http_requests_total" in answer.text


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    return {name for expr in exprs for name in re.findall(r"\bberth_[a-z0-9_]+", expr)}


def test_the_dashboard_queries_only_metrics_a_scrape_has(node):
    push_image(node.session(), node.url, "metrics/dash", "v1", b'{"c": 2}', [b"l2"])
    requests.get(node.url + "/v2/_catalog", timeout=10)  # a refusal
    wanted = _dashboard_metrics()
    # Jobs run at start (gc, events, upload expiry); their series appear once they have.
    assert wait_until(lambda: not wanted - {n for n, _ in _scrape(node)}, 30, 0.5), \
        sorted(wanted - {n for n, _ in _scrape(node)})
