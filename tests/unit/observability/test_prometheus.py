"""Multi-process mode: values of several processes in one directory, summed by a scrape; a
dead process's live gauges dropped; a fresh directory per start."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from berth.observability import prometheus

_WORKER = """
from berth.observability import RequestRecord, metrics
for _ in range({n}):
    metrics.observe(RequestRecord("oci", "/v2/", "GET", 200, 0, 10, 0.01, "r", "::1"))
gauge = metrics.uploading("oci")
gauge.__enter__()  # still uploading when the process ends (as if killed)
"""


def _run_worker(directory, n: int) -> int:
    env = {**os.environ, prometheus.ENV: str(directory)}
    proc = subprocess.run([sys.executable, "-c", _WORKER.format(n=n)], env=env, check=True)
    return proc.returncode


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_scrape_sums_every_process_and_drops_dead_ones_live_gauges(tmp_path, monkeypatch):
    _run_worker(tmp_path, 3)
    _run_worker(tmp_path, 4)
    monkeypatch.setenv(prometheus.ENV, str(tmp_path))
    body, content_type = prometheus.scrape(None)
    samples = _samples(body.decode())
    key = ("berth_http_requests_total",
           (("method", "GET"), ("protocol", "oci"), ("route", "/v2/"), ("status", "200")))
    assert samples[key] == 7
    assert content_type.startswith("text/plain")
    # Both workers exited without marking themselves dead: their uploads do not count.
    assert samples.get(("berth_uploads_in_progress", (("protocol", "oci"),)), 0) == 0
    assert not [f for f in os.listdir(tmp_path) if f.startswith("gauge_live")]


def test_each_start_gets_a_fresh_directory_and_old_ones_go(tmp_path, monkeypatch):
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setenv(prometheus.ENV, "")  # recorded, so the directory set below is undone
    monkeypatch.delenv(prometheus.ENV)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / "metrics" / dead
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"x")
    mine = tmp_path / "metrics" / str(os.getpid())
    mine.mkdir()
    (mine / "counter_2.db").write_bytes(b"x")
    path = prometheus.prepare_directory(tmp_path)
    assert path == mine and list(path.iterdir()) == []
    assert not stale.exists()
    assert os.environ[prometheus.ENV] == str(path)
    assert values.ValueClass.__name__ == "MmapedValue"
    prometheus.remove_directory(path)
    assert not path.exists()


def test_buffered_values_reach_the_files_when_flushed(tmp_path, monkeypatch):
    """A buffered counter adds in memory; a scrape of the files sees it once flushed (the
    flusher thread does so every second, a process at exit or marking itself dead)."""
    from berth.observability import buffered

    monkeypatch.setenv(prometheus.ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.get_value_class())
    buffered.install()
    assert issubclass(values.ValueClass, buffered.BufferedValue)
    from prometheus_client import CollectorRegistry, Counter
    counter = Counter("berth_test_buffered", "test", ["k"], registry=CollectorRegistry())
    counter.labels("a").inc(3)
    assert counter.labels("a")._value.get() == 3  # this process sees its own counts at once

    def on_disk() -> float:
        from prometheus_client.multiprocess import MultiProcessCollector
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(tmp_path))
        return registry.get_sample_value("berth_test_buffered_total", {"k": "a"}) or 0.0

    assert on_disk() == 0  # not written yet
    buffered.flush()
    assert on_disk() == 3
    counter.labels("a").inc(2)
    buffered.flush()
    assert on_disk() == 5


def test_a_forked_worker_counts_on_its_own_with_locks_its_parent_held(tmp_path, monkeypatch):
    """Workers fork from a supervisor that built the application (and so made values): one
    forked while the supervisor's flusher held a value's lock can still count, and its own
    flusher writes its counts under its pid, without the parent's counted again."""
    from berth.observability import buffered

    monkeypatch.setenv(prometheus.ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.get_value_class())
    buffered.install()
    from prometheus_client import CollectorRegistry, Counter
    counter = Counter("berth_test_forked", "test", registry=CollectorRegistry())
    counter.inc(3)
    buffered.flush()
    value = counter._value
    read, write = os.pipe()
    with value._lock:  # held at the fork, as by the flusher thread
        pid = os.fork()
        if pid == 0:  # the worker: never back into pytest
            try:
                counter.inc(2)
                deadline = time.monotonic() + 10
                while value._pending and time.monotonic() < deadline:
                    time.sleep(0.05)  # its own flusher moves the count to its file
                os.write(write, b"flushed" if not value._pending else b"pending")
            finally:
                os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        if not select.select([answer], [], [], 20)[0]:
            os.kill(pid, signal.SIGKILL)
        said = answer.read()
    os.waitpid(pid, 0)
    assert said == b"flushed", "the worker hung on a lock its parent held" if not said else said
    from prometheus_client.multiprocess import MultiProcessCollector
    scraped = CollectorRegistry()
    MultiProcessCollector(scraped, str(tmp_path))
    assert scraped.get_sample_value("berth_test_forked_total") == 5
    assert {p.name for p in tmp_path.iterdir()} == {f"counter_{os.getpid()}.db",
                                                    f"counter_{pid}.db"}
