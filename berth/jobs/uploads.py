"""Expire upload sessions nobody has touched for the configured time."""
from __future__ import annotations

import logging

from ..registry.uploads import UploadService
from .runner import Job

log = logging.getLogger("berth.jobs.uploads")


def expire_uploads_job(uploads: UploadService, ttl_seconds: float) -> Job:
    def run() -> None:
        count = uploads.expire(ttl_seconds)
        if count:
            log.info("expired %d stale uploads", count)

    return Job("expire-uploads", interval=min(ttl_seconds / 4, 600.0), run=run)
