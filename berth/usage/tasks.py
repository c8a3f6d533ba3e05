"""Usage's background work: the storage sample, once a day (UTC) on one node at a time. The
day's slot starts at midnight, so a node started later in the day samples at once."""
from __future__ import annotations

import logging

from ..jobs.runner import JobContext, JobRunner
from ..storage.metadata.database import Database
from .sampling import sample_storage

log = logging.getLogger("berth.usage")

SAMPLE_STORAGE = "usage-sample-storage"
DAY = 24 * 3600.0


def schedule_sampling(runner: JobRunner, db: Database) -> None:
    def sample(job: JobContext) -> None:
        log.info("usage: sampled the storage of %d repositories", sample_storage(db))

    runner.every(DAY, SAMPLE_STORAGE, sample)
