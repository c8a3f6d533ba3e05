"""Pull times (berth.registry.images.pulls): a pull whose bookkeeping write fails is served all
the same; the time waits in memory and is written later (by a later pull, or by the retrier
thread), the failure logged once and counted. A blob read whose wait cannot be restarted is
served too."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import select

from berth.registry.images import pulls as pulls_module
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.images.service import ImageId
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.errors import METADATA_DATABASE, StorageFull
from berth.storage.metadata import manifests as manifest_rows
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import manifests, repositories
from tests.support.registry_images import push_image
from tests.support.tmpfs import fill, tmpfs, truncate_wal
from tests.support.repositories import pushes_create


@pytest.fixture
def pulls(registry):
    log = registry.manifests.pulls
    yield log
    log.close()


@pytest.fixture
def disk_full(monkeypatch):
    """Pull-time writes fail as on a full database, until ``disk_full.clear()``."""
    class Switch:
        on = True
        attempts = 0

        def clear(self):
            self.on = False

    switch = Switch()
    real = manifest_rows.record_pulls

    def record_pulls(tx, *args):
        switch.attempts += 1
        if switch.on:
            raise StorageFull(METADATA_DATABASE, "database or disk is full")
        return real(tx, *args)

    monkeypatch.setattr(pulls_module.manifest_rows, "record_pulls", record_pulls)
    return switch


def pull(registry, repository: str, reference: str):
    return asyncio.run(registry.manifests.fetch(repository, reference, record_pull=True))


def recorded(registry, repository: str, digest) -> float | None:
    """The manifest's last_pulled_at as the database has it."""
    query = select(manifests.c.last_pulled_at).select_from(
        manifests.join(repositories, repositories.c.id == manifests.c.repository_id)).where(
        repositories.c.name == repository, manifests.c.digest == str(digest))
    with registry.db.read() as tx:
        return tx.scalar(query)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_pull_is_served_and_its_time_kept(registry, pulls, disk_full, caplog):
    caplog.set_level(logging.INFO, "berth.registry.pulls")
    digest = push_image(registry, "team/app", "v1")
    before = time.time()
    for _ in range(20):
        assert pull(registry, "team/app", "v1").digest == str(digest)
    after = time.time()
    assert recorded(registry, "team/app", digest) is None
    # One failed write, not one per pull: the waiting time counts as the last pull.
    assert disk_full.attempts == 1 and pulls.failures == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database or disk is full" in warnings[0].getMessage()
    disk_full.clear()
    assert pulls.flush()
    assert before <= recorded(registry, "team/app", digest) <= after  # the pull's own time
    assert any("recorded again" in r.getMessage() for r in caplog.records)


def test_a_later_pull_writes_the_waiting_times(registry, pulls, disk_full):
    pulls.close()  # no retrier thread: only the pull below writes
    pulls.retry_seconds = 0.0
    first = push_image(registry, "team/app", "v1", b"one")
    second = push_image(registry, "team/app", "v2", b"two")
    pull(registry, "team/app", "v1")
    disk_full.clear()
    assert recorded(registry, "team/app", first) is None
    pull(registry, "team/app", "v2")
    assert recorded(registry, "team/app", first) is not None
    assert recorded(registry, "team/app", second) is not None


def test_the_retrier_writes_them_without_a_request(registry, pulls, disk_full, caplog):
    caplog.set_level(logging.WARNING, "berth.registry.pulls")
    pulls.retry_seconds = 0.05
    digest = push_image(registry, "team/app", "v1")
    pull(registry, "team/app", "v1")
    wait_for(lambda: disk_full.attempts >= 3)  # it retries while the disk stays full
    assert recorded(registry, "team/app", digest) is None
    assert len(caplog.records) == 1  # logged once, not once per failed attempt
    disk_full.clear()
    wait_for(lambda: recorded(registry, "team/app", digest) is not None)
    wait_for(lambda: pulls._retrier is None)  # and stops once nothing waits


def test_batch_get_image_is_served(registry, pulls, disk_full):
    digest = push_image(registry, "team/app", "v1")
    images, failures = registry.images.batch_get(
        "team/app", [ImageId(tag="v1")], [OCI_MANIFEST])
    assert [i[0].digest for i in images] == [str(digest)] and not failures
    assert pulls.failures == 1
    disk_full.clear()
    assert pulls.flush() and recorded(registry, "team/app", digest) is not None


def test_waiting_times_are_bounded(registry, pulls, disk_full):
    pulls.close()
    pulls.max_pending = 2
    for i in range(3):
        push_image(registry, "team/app", f"v{i}", f"layer{i}".encode())
        pull(registry, "team/app", f"v{i}")
    assert pulls.dropped == 1 and len(pulls._pending) == 2


def test_a_blob_read_whose_wait_cannot_restart_is_served(registry, monkeypatch):
    data = b"unlisted layer"
    registry.uploads.put_small("team/app", Digest.of(data), data)
    registry.blobs.grace_seconds = 0  # its wait is due to restart on every read
    from berth.registry.blobs import service

    def full(*args):
        raise StorageFull(METADATA_DATABASE, "database or disk is full")

    monkeypatch.setattr(service.blob_rows, "touch_link", full)
    assert registry.blobs.find("team/app", Digest.of(data)).size == len(data)
    assert asyncio.run(registry.blobs.find_async("team/app", Digest.of(data))).size == len(data)


def test_on_a_really_full_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        db = Database(f"sqlite:///{disk / 'metadata.db'}")
        reg = Registry.create(db, FilesystemDriver(disk / "blobs"), 4 * 1024 * 1024, 1)
        try:
            migrate.upgrade(db)
            pushes_create(reg.db, reg.registry_id)
            digest = push_image(reg, "team/app", "v1")
            truncate_wal(disk / "metadata.db")
            filler = fill(disk)
            assert pull(reg, "team/app", "v1").digest == str(digest)
            assert reg.manifests.pulls.failures == 1
            assert recorded(reg, "team/app", digest) is None
            filler.unlink()
            assert reg.manifests.pulls.flush()
            assert recorded(reg, "team/app", digest) is not None
        finally:
            reg.manifests.pulls.close()
            reg.close()
