"""Delivering the outbox to its subscribers: one periodic job per subscriber, so a slow one
does not hold up the others; a job a killed node held is taken over after its lease, and
the cursor (moved with the subscriber's effects) says where to go on."""
from __future__ import annotations

from ..jobs.runner import JobContext, JobRunner
from ..observability import metrics
from .outbox import Outbox, Subscriber

PRUNE_EVENTS = "prune-events"


def schedule_delivery(runner: JobRunner, outbox: Outbox, subscribers: list[Subscriber],
                      interval_seconds: float) -> None:
    for subscriber in subscribers:
        runner.every(interval_seconds, f"events:{subscriber.name}", _deliverer(outbox, subscriber))
    names = [s.name for s in subscribers]
    runner.every(3600, PRUNE_EVENTS, lambda job: outbox.prune(names))


def _deliverer(outbox: Outbox, subscriber: Subscriber):
    def deliver(job: JobContext) -> None:
        outbox.deliver(subscriber)
        metrics.outbox_backlog(subscriber.name, outbox.backlog(subscriber.name))
    return deliver
