"""Periodic work as queued jobs: each period slot (wall-clock time divided by the interval) gets
one job whose dedup key names the slot, so that however many nodes enqueue it, it is queued
once and one node runs it."""
from __future__ import annotations

from dataclasses import dataclass

from .queue import DONE_RETENTION, JobQueue


@dataclass(frozen=True)
class Schedule:
    kind: str
    interval: float
    max_attempts: int = 3

    def __post_init__(self):
        # A finished slot's row is its dedup key: pruned within the slot, the slot would run
        # again on the next node to start.
        if not 0 < self.interval <= DONE_RETENTION:
            raise ValueError(f"{self.kind}: interval must be within (0, {DONE_RETENTION}] s")

    def slot(self, now: float) -> int:
        return int(now // self.interval)

    def enqueue(self, queue: JobQueue, slot: int, now: float | None = None) -> str | None:
        """Queue the slot's job, due at the slot's start; None if some node already did."""
        return queue.enqueue(self.kind, key=f"{self.kind}@{slot}", run_at=slot * self.interval,
                             max_attempts=self.max_attempts, now=now)
