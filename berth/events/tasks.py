"""Delivering the outbox to its subscribers: work on demand (``jobs.watch``), one kind per
subscriber so a slow one does not hold up the others. A process delivers at once after it
commits events, and every process looks for undelivered ones every ``look_seconds``; the
cursor (moved with the subscriber's effects) says where to go on, so a node killed mid-way
loses nothing and an idle deployment writes nothing."""
from __future__ import annotations

from ..jobs.runner import JobContext, JobRunner
from ..jobs.watch import Watch
from ..storage.metadata.work_signal import EVENTS
from ..observability import metrics
from .outbox import Outbox, Subscriber

PRUNE_EVENTS = "prune-events"
KIND = "events:{}"


def schedule_delivery(runner: JobRunner, outbox: Outbox, subscribers: list[Subscriber],
                      look_seconds: float) -> None:
    by_kind = {KIND.format(s.name): s for s in subscribers}

    def pending() -> list[str]:
        return [KIND.format(name) for name in outbox.behind([s.name for s in subscribers])]
    runner.watch(Watch(pending, {kind: _deliverer(outbox, s) for kind, s in by_kind.items()},
                       news=EVENTS, look=look_seconds))
    names = [s.name for s in subscribers]
    runner.every(3600, PRUNE_EVENTS, lambda job: outbox.prune(names))


def _deliverer(outbox: Outbox, subscriber: Subscriber):
    def deliver(job: JobContext) -> int:
        handled = outbox.deliver(subscriber, stop=job.cancelled.is_set)
        metrics.outbox_backlog(subscriber.name, outbox.backlog(subscriber.name))
        return handled
    return deliver
