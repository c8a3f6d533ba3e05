"""The audit trail's background work: dropping events older than the retention, hourly."""
from __future__ import annotations

from ..jobs.runner import JobRunner
from ..storage.metadata.database import Database
from .services import prune

PRUNE_JOB = "audit-prune"


def schedule_audit_prune(runner: JobRunner, db: Database, retention_days: int) -> None:
    runner.every(3600, PRUNE_JOB, lambda job: prune(db, retention_days))
