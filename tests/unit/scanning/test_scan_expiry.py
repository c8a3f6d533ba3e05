"""The end of continuous scanning for idle images (berth.scanning.services.expire_and_revive,
Amazon Inspector's re-scan duration): an image neither pushed nor pulled for the configured
days is SCAN_ELIGIBILITY_EXPIRED, keeps what it last found and is no longer rematched; a pull
(or push) starts its continuous scanning again, with a scan now, where the configuration
still scans its repository continuously."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from berth.jobs.queue import JobQueue
from berth.registry.registry import Registry
from berth.scanning import services
from berth.scanning.configuration import ENHANCED
from berth.scanning.scanner import DONE, Outcome
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import scanning as scan_rows
from berth.storage.metadata.schema import jobs, manifests
from tests.support.registry_images import push_image
from tests.support.repositories import make_repository, pushes_create

DAY = 86400.0
NOW = 1_800_000_000.0
CONTINUOUS = [{"scanFrequency": "CONTINUOUS_SCAN",
               "repositoryFilters": [{"filter": "team/*", "filterType": "WILDCARD"}]}]


@pytest.fixture
def registry(sqlite_db, registry_id, tmp_path):
    reg = Registry.create(sqlite_db, FilesystemDriver(tmp_path / "blobs"), 4 << 20,
                          registry_id=registry_id)
    pushes_create(reg.db, reg.registry_id)
    reg.scanning.configuration.put(ENHANCED, CONTINUOUS)
    yield reg
    reg.driver.close()


def _scanned(registry, name: str) -> tuple[int, str]:
    """An image of ``name`` whose continuous scan completed, pushed 100 days before NOW."""
    with registry.db.write() as tx:
        repo_id = make_repository(tx, registry.registry_id, name)
    digest = str(push_image(registry, name, "v1", name.encode()))
    with registry.db.write() as tx:
        services.request(tx, JobQueue(registry.db), registry.registry_id, repo_id, name,
                         digest, services.repository_scanning(tx, registry.registry_id, name,
                                                              False), NOW - 100 * DAY)
    services.record(registry.db, registry.registry_id, repo_id, name, digest, ENHANCED,
                    Outcome("COMPLETE", DONE), now=NOW - 100 * DAY)
    _image_times(registry, repo_id, digest, pushed=NOW - 100 * DAY, pulled=None)
    return repo_id, digest


def _image_times(registry, repo_id: int, digest: str, pushed: float, pulled: float | None):
    with registry.db.write() as tx:
        tx.execute(update(manifests).where(manifests.c.repository_id == repo_id,
                                           manifests.c.digest == digest)
                   .values(pushed_at=pushed, last_pulled_at=pulled))


def _status(registry, image) -> str:
    with registry.db.read() as tx:
        return scan_rows.scan(tx, *image).status


def _continuous(registry) -> list[str]:
    with registry.db.read() as tx:
        return [r.digest for r in scan_rows.continuous(tx, (0, ""), 100)]


def test_an_image_idle_longer_than_the_duration_expires_and_keeps_its_findings(registry):
    idle = _scanned(registry, "team/idle")
    pulled = _scanned(registry, "team/pulled")
    _image_times(registry, *pulled, pushed=NOW - 100 * DAY, pulled=NOW - 2 * DAY)
    fresh = _scanned(registry, "team/fresh")
    _image_times(registry, *fresh, pushed=NOW - 10 * DAY, pulled=None)
    assert services.expire_and_revive(registry.db, JobQueue(registry.db), 30, NOW) == (1, 0)
    assert [_status(registry, i) for i in (idle, pulled, fresh)] == [
        "SCAN_ELIGIBILITY_EXPIRED", "ACTIVE", "ACTIVE"]
    state = registry.scanning.result("team/idle", _image_id(idle))[1]
    assert state.has_findings and "30 days" in state.description
    assert sorted(_continuous(registry)) == sorted([pulled[1], fresh[1]])  # not rematched
    assert services.expire_and_revive(registry.db, JobQueue(registry.db), 30, NOW) == (0, 0)


def test_a_pull_starts_continuous_scanning_again_with_a_scan_now(registry):
    idle = _scanned(registry, "team/idle")
    services.expire_and_revive(registry.db, JobQueue(registry.db), 30, NOW)
    _image_times(registry, *idle, pushed=NOW - 100 * DAY, pulled=NOW - 60.0)
    queue = JobQueue(registry.db)
    assert services.expire_and_revive(registry.db, queue, 30, NOW) == (0, 1)
    assert _status(registry, idle) == "IN_PROGRESS"
    with registry.db.read() as tx:
        payloads = [json.loads(r.payload) for r in tx.all(
            select(jobs.c.payload).where(jobs.c.kind == services.SCAN_JOB))]
    [job] = [p for p in payloads if p["digest"] == idle[1] and p["requestedAt"] == NOW]
    assert job["scanType"] == ENHANCED


def test_an_image_no_longer_scanned_continuously_stays_expired_when_pulled(registry):
    idle = _scanned(registry, "team/idle")
    services.expire_and_revive(registry.db, JobQueue(registry.db), 30, NOW)
    registry.scanning.configuration.put(ENHANCED, [])  # its repository left the rules
    _image_times(registry, *idle, pushed=NOW - 100 * DAY, pulled=NOW - 60.0)
    assert services.expire_and_revive(registry.db, JobQueue(registry.db), 30, NOW) == (0, 0)
    assert _status(registry, idle) == "SCAN_ELIGIBILITY_EXPIRED"


def _image_id(image):
    from berth.registry.images.service import ImageId
    return ImageId(image[1], None)
