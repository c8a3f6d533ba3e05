"""Managed signing driven step by step in tests: deliver the outbox to the signing
subscriber, then run every signing job queued, as a worker would."""
from __future__ import annotations

from berth.events import Outbox
from berth.jobs.queue import JobQueue
from berth.signing.services import SIGN_JOB
from berth.signing.tasks import run, subscriber


def deliver(registry) -> None:
    Outbox(registry.db).deliver(subscriber(JobQueue(registry.db)))


def sign_pending(registry, key_allows=None) -> int:
    """How many signing jobs ran. ``key_allows``: IAM's answer for pushers (default the
    registry's, as the app wires it)."""
    deliver(registry)
    queue = JobQueue(registry.db)
    jobs = queue.claim("test-worker", [SIGN_JOB], 100, 60)
    for job in jobs:
        run(registry, registry.signing_profiles, job.payload, job.attempt,
            key_allows or registry.key_allows)
        queue.complete("test-worker", job)
    return len(jobs)
