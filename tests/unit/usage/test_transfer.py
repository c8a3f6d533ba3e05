"""Bytes pulled (berth.usage.transfer): the observer counts blob and manifest GETs answered
200/206 per day and repository, and blob GETs redirected to the storage (307) or
GetDownloadUrlForLayer URLs to it by the bytes the storage sends, inside or outside the
configured networks; flushes add to the day's rows, so that two processes' counters add up
(SQLite and PostgreSQL); a failed flush keeps its counts for the next; the app's flusher
writes every usage_flush_seconds."""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone

import pytest
from starlette.testclient import TestClient

from berth.app import create_app
from berth.config import load_settings
from berth.observability import RequestRecord
from berth.storage.metadata import usage_daily
from berth.storage.metadata.database import Database
from berth.usage.transfer import Networks, TransferCounter, TransferFlusher
from tests.support.metadata_templates import migrated_sqlite

BLOB = "/v2/{name:path}/blobs/{digest}"
MANIFEST = "/v2/{name:path}/manifests/{reference}"
ACCOUNT, REGION = "111122223333", "us-east-1"
NOON = datetime(2026, 5, 31, 12, tzinfo=timezone.utc).timestamp()
NEXT_DAY = NOON + 24 * 3600

PULL = RequestRecord(protocol="oci", route=BLOB, method="GET", status=200, bytes_in=0,
                     bytes_out=1000, seconds=0.01, request_id="r", source_ip="127.0.0.1",
                     account_id=ACCOUNT, region=REGION, repository="team/app")


def pull(**changes) -> RequestRecord:
    return dataclasses.replace(PULL, **changes)


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _rows(db: Database) -> dict:
    with db.read() as tx:
        return {(row.day, row.repository): (int(row.bytes_inside), int(row.bytes_outside))
                for row in usage_daily.transfers(tx, "2026-01-01", "2026-12-31")}


def test_networks_split_addresses():
    networks = Networks("127.0.0.0/8, 10.0.0.0/8,fd00::/8")
    assert "127.0.0.1" in networks and "10.1.2.3" in networks and "fd00::5" in networks
    assert "::ffff:10.9.9.9" in networks  # an IPv4 client seen by a dual-stack socket
    assert "192.168.1.1" not in networks and "2001:db8::1" not in networks
    assert "not-an-address" not in networks and "" not in networks
    assert "127.0.0.1" not in Networks("")
    with pytest.raises(ValueError):
        Networks("10.0.0.0/33")


@pytest.mark.parametrize("record", [
    pull(method="HEAD"),
    pull(status=307, bytes_out=0),  # a redirect of which no storage bytes are known
    pull(status=302, bytes_out=0, redirected_bytes=1000),
    pull(method="HEAD", status=307, bytes_out=0, redirected_bytes=1000),
    pull(status=404),
    pull(route="/v2/{name:path}/blobs/uploads/{uuid}"),
    pull(route="/v2/{name:path}/tags/list"),
    pull(method="PUT", route=MANIFEST, status=201),
    pull(protocol="ecr", route="BatchGetImage", repository=""),
    pull(bytes_out=0),
])
def test_only_pulls_are_counted(record):
    counter = TransferCounter(Networks("127.0.0.0/8"))
    counter.observe(record)
    assert counter.pending() == {}
    counter.observe(pull(route=MANIFEST))
    assert counter.pending() != {}


def test_counts_split_by_network_day_and_repository():
    clock = Clock(NOON)
    counter = TransferCounter(Networks("127.0.0.0/8"), clock)
    counter.observe(pull())
    counter.observe(pull(status=206, bytes_out=500, route=MANIFEST))
    counter.observe(pull(source_ip="203.0.113.9", bytes_out=70))
    counter.observe(pull(repository="team/lib", bytes_out=3))
    clock.now = NEXT_DAY
    counter.observe(pull(bytes_out=9))
    assert counter.pending() == {
        ("2026-05-31", ACCOUNT, REGION, "team/app"): (1500, 70),
        ("2026-05-31", ACCOUNT, REGION, "team/lib"): (3, 0),
        ("2026-06-01", ACCOUNT, REGION, "team/app"): (9, 0)}


def test_a_pull_redirected_to_the_storage_counts_the_bytes_it_sends():
    clock = Clock(NOON)
    counter = TransferCounter(Networks("127.0.0.0/8"), clock)
    counter.observe(pull(status=307, bytes_out=0, redirected_bytes=4000))
    counter.observe(pull(status=307, bytes_out=0, redirected_bytes=600,
                         source_ip="203.0.113.9"))
    counter.observe(pull(status=307, bytes_out=55, redirected_bytes=0))  # the body is no pull
    counter.observe(pull(bytes_out=7, redirected_bytes=999))  # served here: what was sent
    assert counter.pending() == {("2026-05-31", ACCOUNT, REGION, "team/app"): (4007, 600)}


def test_a_download_url_to_the_storage_counts_the_layer_when_handed_out():
    counter = TransferCounter(Networks("127.0.0.0/8"), Clock(NOON))
    url = pull(protocol="ecr", route="GetDownloadUrlForLayer", method="POST", bytes_out=300)
    counter.observe(dataclasses.replace(url, redirected_bytes=5000))
    counter.observe(url)  # a URL to Berth itself: its GET is counted when it is used
    counter.observe(dataclasses.replace(url, status=400, redirected_bytes=5000))
    assert counter.pending() == {("2026-05-31", ACCOUNT, REGION, "team/app"): (5000, 0)}


def test_two_flushers_add_up_in_the_database(db):
    first = TransferCounter(Networks("127.0.0.0/8"), Clock(NOON))
    second = TransferCounter(Networks("127.0.0.0/8"), Clock(NOON))
    for _ in range(3):
        first.observe(pull())
        second.observe(pull(source_ip="198.51.100.1", bytes_out=10))
    second.observe(pull())
    assert first.flush(db) == 1 and second.flush(db) == 1
    assert _rows(db) == {("2026-05-31", "team/app"): (4000, 30)}
    assert first.flush(db) == 0, "a flush takes what it wrote"
    first.observe(pull(bytes_out=1))
    first.flush(db)
    assert _rows(db) == {("2026-05-31", "team/app"): (4001, 30)}


def test_a_failed_flush_keeps_its_counts(db, tmp_path):
    counter = TransferCounter(Networks(""), Clock(NOON))
    counter.observe(pull())
    unmigrated = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no table: the write fails
    try:
        with pytest.raises(Exception):
            counter.flush(unmigrated)
    finally:
        unmigrated.dispose()
    counter.observe(pull(bytes_out=5))
    assert counter.pending() == {("2026-05-31", ACCOUNT, REGION, "team/app"): (0, 1005)}
    counter.flush(db)
    assert _rows(db) == {("2026-05-31", "team/app"): (0, 1005)}


def test_the_flusher_thread_writes_every_interval_and_when_stopped(db):
    counter = TransferCounter(Networks("127.0.0.0/8"), Clock(NOON))
    flusher = TransferFlusher(counter, db, interval=0.05)
    flusher.start()
    try:
        counter.observe(pull())
        deadline = time.monotonic() + 10
        while not _rows(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _rows(db) == {("2026-05-31", "team/app"): (1000, 0)}
        flusher.interval = 3600  # the next wait outlasts the test: only stop() flushes
        time.sleep(0.1)
        counter.observe(pull(bytes_out=1))
    finally:
        flusher.stop()
    assert _rows(db) == {("2026-05-31", "team/app"): (1001, 0)}


def test_the_apps_flusher_writes_every_usage_flush_seconds(tmp_path):
    data_dir = tmp_path / "data"
    migrated_sqlite(data_dir)
    settings = load_settings(flags={"data_dir": str(data_dir)}, env={
        "BERTH_USAGE_FLUSH_SECONDS": "0.05"})
    app = create_app(settings, run_jobs=False)
    state = app.app.state
    with TestClient(app):  # its lifespan runs the flushers
        state.usage_transfer.clock = Clock(NOON)
        state.usage_transfer.observe(pull())
        deadline = time.monotonic() + 3  # well before the default's 5 s
        while not _rows(state.registry.db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _rows(state.registry.db) == {("2026-05-31", "team/app"): (0, 1000)}
