import asyncio
import time

import pytest
from sqlalchemy import select

from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner
from berth.registry.errors import BlobUploadUnknown
from berth.registry.registry import Registry
from berth.registry.tasks import EXPIRE_UPLOADS, schedule_upload_expiry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata.schema import jobs
from tests.support.repositories import pushes_create

_EXPIRY_DONE = select(jobs.c.id).where(jobs.c.kind == EXPIRE_UPLOADS, jobs.c.state == "done")


@pytest.fixture
def registry(db, tmp_path):
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024,
                          registry_id=1)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()


def test_stale_uploads_expire_through_the_queue(registry):
    stale = registry.uploads.start("r")
    time.sleep(0.2)  # older than the TTL below
    runner = JobRunner(JobQueue(registry.db), poll_seconds=0.02)
    schedule_upload_expiry(runner, registry.uploads, ttl_seconds=0.1, interval_seconds=3600)

    async def main():
        runner.start()
        deadline = time.monotonic() + 30
        while not registry.db.fetch_one(_EXPIRY_DONE, {}):
            assert time.monotonic() < deadline, "the expiry job never finished"
            await asyncio.sleep(0.01)
        await runner.stop()

    asyncio.run(main())
    with pytest.raises(BlobUploadUnknown):
        registry.uploads.status("r", stale)
    assert list((registry.driver.root / "uploads").iterdir()) == []


def test_the_default_interval_follows_the_ttl(registry):
    runner = JobRunner(JobQueue(registry.db))
    schedule_upload_expiry(runner, registry.uploads, ttl_seconds=24 * 3600)
    assert {s.kind: s.interval for s in runner.schedules}[EXPIRE_UPLOADS] == 600
    other = JobRunner(JobQueue(registry.db))
    schedule_upload_expiry(other, registry.uploads, ttl_seconds=2)
    assert {s.kind: s.interval for s in other.schedules}[EXPIRE_UPLOADS] == 1

