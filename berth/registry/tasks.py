"""The registry's background work: expiring upload sessions nobody has touched for the
configured time, and restoring archived images asked back to standard storage."""
from __future__ import annotations

import logging

from ..jobs.runner import JobContext, JobRunner
from ..storage.metadata.database import Database
from .blobs.uploads import UploadService
from .images.storage_class import RESTORE_JOB, ImageStorage

log = logging.getLogger("berth.registry.tasks")

EXPIRE_UPLOADS = "expire-uploads"


def schedule_upload_expiry(runner: JobRunner, uploads: UploadService, ttl_seconds: float,
                           interval_seconds: float = 0) -> None:
    """Expire idle uploads once per interval across all nodes; by default every quarter of
    the TTL, at most every ten minutes, at least every second."""
    def expire(job: JobContext) -> None:
        count = uploads.expire(ttl_seconds)
        if count:
            log.info("expired %d stale uploads", count)

    interval = interval_seconds or max(1.0, min(ttl_seconds / 4, 600.0))
    runner.every(interval, EXPIRE_UPLOADS, expire)


def handle_restores(runner: JobRunner, db: Database) -> None:
    """Restores queued by UpdateImageStorageClass (STANDARD): ACTIVATING images become ACTIVE
    (their blobs never left, so there is nothing to copy back)."""
    def restore(job: JobContext) -> None:
        ImageStorage(db, 0).restore(job.payload["repositoryId"], job.payload["digests"])

    runner.register(RESTORE_JOB, restore)
