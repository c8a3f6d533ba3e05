"""IAM's background work: forgetting temporary credentials a day after they lapse."""
from __future__ import annotations

import time

from ..jobs.runner import JobRunner
from ..storage.metadata import roles as rows
from ..storage.metadata.database import Database
from .sessions import PRUNE_AFTER

PRUNE_SESSIONS = "sts-sessions-prune"


def schedule_session_prune(runner: JobRunner, db: Database) -> None:
    def prune(job) -> None:
        with db.write() as tx:
            rows.prune_sessions(tx, time.time() - PRUNE_AFTER)
    runner.every(3600, PRUNE_SESSIONS, prune)
