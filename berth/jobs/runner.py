"""The job worker inside each server process. It enqueues periodic jobs as their slots come,
claims due jobs of the kinds registered here, runs their handlers in threads (off the event
loop), renews their leases while they run, and records how they ended. Handlers are
registered by kind in the app factory; nothing registers itself at import. Work on demand
(``watch``) runs here too, looked for at each poll and at once when this process commits
events or jobs (``Database.on_work``)."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..concurrency import blocking
from ..observability import metrics
from ..observability.outage import Outage
from .queue import Claimed, JobQueue, error_text
from .schedule import Schedule
from .watch import Watch, Watcher

log = logging.getLogger("berth.jobs")

PRUNE_JOBS = "prune-jobs"
# How often a process counts the queued jobs for the metrics (one grouped read).
QUEUED_SAMPLE_SECONDS = 15.0
# Polls a commit brings about come at most this often (a busy node commits hundreds a second).
NUDGE_GAP = 0.02


@dataclass(frozen=True)
class JobContext:
    """What a handler gets. ``cancelled`` is set when this node lost the job's lease or the
    server is stopping: long handlers check it and stop (raising, so the job is retried)."""
    id: str
    kind: str
    payload: dict
    attempt: int
    cancelled: threading.Event = field(default_factory=threading.Event)


Handler = Callable[[JobContext], object]


class JobRunner:
    def __init__(self, queue: JobQueue, poll_seconds: float = 1.0, lease_seconds: float = 60.0,
                 concurrency: int = 2):
        if poll_seconds <= 0 or lease_seconds <= 0 or concurrency < 1:
            raise ValueError("job poll and lease times must be positive, concurrency at least 1")
        self.queue = queue
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.worker = _worker_name()
        self._handlers: dict[str, Handler] = {}
        self._schedules: list[Schedule] = []
        self._slots: dict[str, int] = {}  # the last slot enqueued per schedule
        self._running: dict[str, tuple[Claimed, JobContext, asyncio.Task]] = {}
        self._stopping: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None  # a job ended: claim the next one now
        self._nudge: asyncio.Event | None = None  # events or work committed (self._news)
        self._news: frozenset[str] = frozenset()
        self._unlisten: Callable[[], None] | None = None
        self._watchers: list[Watcher] = []
        self._watched: dict[asyncio.Task, JobContext] = {}
        self._tasks: list[asyncio.Task] = []
        self._sampled = 0.0
        self._poll_outage = Outage("job queue poll", log)
        self._look_outage = Outage("looking for pending work", log)
        self.every(3600, PRUNE_JOBS, lambda job: queue.prune())

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        self._handlers[kind] = handler

    def every(self, interval: float, kind: str, handler: Handler, max_attempts: int = 3) -> None:
        """Run ``handler`` once per ``interval`` seconds across all nodes."""
        schedule = Schedule(kind, interval, max_attempts)
        self.register(kind, handler)
        self._schedules.append(schedule)

    def watch(self, watch: Watch) -> None:
        """Run ``watch``'s handlers whenever its ``pending`` read finds them work."""
        known = {k for w in self._watchers for k in w.watch.handlers} | set(self._handlers)
        for kind in watch.handlers:
            if kind in known:
                raise ValueError(f"a handler for {kind!r} is registered already")
        self._watchers.append(Watcher(watch))

    @property
    def kinds(self) -> list[str]:
        return list(self._handlers)

    @property
    def schedules(self) -> list[Schedule]:
        return list(self._schedules)

    # -- the loop ----------------------------------------------------------------------
    def start(self) -> None:
        self.worker = _worker_name()  # this process's: a runner may be built before a fork
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._nudge = asyncio.Event()
        loop = asyncio.get_running_loop()

        def nudge(news: frozenset[str]) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._hear, news)
        self._unlisten = self.queue.db.on_work(nudge)
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        """Claim nothing more, ask running handlers to stop, and wait for them (renewing
        their leases meanwhile), so no job is left half-recorded."""
        if not self._tasks:
            return
        poll, heartbeat = self._tasks
        self._tasks = []
        await blocking(self._unlisten)  # may close a listening connection
        self._stopping.set()
        await poll
        running = list(self._running.values())
        watched = dict(self._watched)
        for ctx in [*(ctx for _, ctx, _ in running), *watched.values()]:
            ctx.cancelled.set()
        await asyncio.gather(*(task for _, _, task in running), *watched,
                             return_exceptions=True)
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)

    async def _poll(self) -> None:
        while not self._stopping.is_set():
            polled = time.monotonic()
            timeout = None
            try:
                await self.poll_once()
                self._poll_outage.ended()
            except Exception:  # e.g. the database is unreachable: the next poll tries again
                self._poll_outage.failed()
                timeout = self.poll_seconds  # not at once: a poll that failed would spin
            # A poll claims at most the free slots: when a job ends, poll again at once, so
            # jobs run as fast as they finish, not a slot's worth per poll interval.
            waits = [asyncio.ensure_future(self._stopping.wait()),
                     asyncio.ensure_future(self._wake.wait()),
                     asyncio.ensure_future(self._nudge.wait())]
            await asyncio.wait(waits, timeout=self._timeout() if timeout is None else timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            only_nudged = self._nudge.is_set() and not self._wake.is_set()
            self._wake.clear()
            self._nudge.clear()  # news that comes from here on sets it again
            if only_nudged:
                # Commits come by the hundred per second under load: look at most once a gap.
                await asyncio.sleep(max(0.0, polled + NUDGE_GAP - time.monotonic()))
            news, self._news = self._news, frozenset()
            for watcher in self._watchers:
                if watcher.watch.news in news:
                    watcher.poke()

    def _hear(self, news: frozenset[str]) -> None:
        self._news |= news
        self._nudge.set()

    def _timeout(self) -> float:
        return min([self.poll_seconds, *(watcher.wait() for watcher in self._watchers)])

    async def poll_once(self) -> None:
        if self._due(time.time()):
            await blocking(self.enqueue_due)
        free = self.concurrency - len(self._running)
        if free > 0:
            claimed = await blocking(self.queue.claim, self.worker, list(self._handlers), free,
                                     self.lease_seconds)
            for job in claimed:
                self._start(job)
        for watcher in self._watchers:
            free = watcher.looking()
            if free:
                try:
                    found = set(await blocking(watcher.watch.pending))
                    self._look_outage.ended()
                except Exception:  # e.g. the database is unreachable: the next look tries
                    self._look_outage.failed()
                    continue
                for kind in watcher.choose(free, found):
                    self._start_watched(watcher, kind)
        if time.monotonic() - self._sampled >= QUEUED_SAMPLE_SECONDS:
            self._sampled = time.monotonic()
            metrics.jobs_queued(self.kinds, await blocking(self.queue.queued))

    def _due(self, now: float) -> list[Schedule]:
        return [s for s in self._schedules if self._slots.get(s.kind) != s.slot(now)]

    def enqueue_due(self, now: float | None = None) -> None:
        """Queue the current slot's job of each schedule this node has not queued yet (a
        dedup key makes the other nodes' attempts no-ops)."""
        now = time.time() if now is None else now
        due = self._due(now)
        # A schedule whose earlier slot still waits gets no other: a backlog of the same
        # periodic job does no more work than one, and would delay every other job.
        waiting = self.queue.queued() if due else {}
        for schedule in due:
            slot = schedule.slot(now)
            if not waiting.get(schedule.kind):
                schedule.enqueue(self.queue, slot, now)
            self._slots[schedule.kind] = slot

    def _start(self, job: Claimed) -> None:
        ctx = JobContext(job.id, job.kind, job.payload, job.attempt)
        self._running[job.id] = (job, ctx, asyncio.create_task(self._run(job, ctx)))

    def _start_watched(self, watcher: Watcher, kind: str) -> None:
        watcher.started(kind)
        ctx = JobContext("", kind, {}, 1)
        task = asyncio.create_task(self._run_watched(watcher, ctx))
        self._watched[task] = ctx
        task.add_done_callback(lambda done: self._watched.pop(done, None))

    async def _run_watched(self, watcher: Watcher, ctx: JobContext) -> None:
        error, handled = None, None
        try:
            with metrics.job_running(ctx.kind):
                handled = await blocking(watcher.watch.handlers[ctx.kind], ctx)
        except Exception as exc:
            error = exc
        finally:
            watcher.finished(ctx.kind, error, handled if isinstance(handled, int) else None)
            metrics.job_finished(ctx.kind, "done" if error is None else "retried")
            self._wake.set()

    async def _run(self, job: Claimed, ctx: JobContext) -> None:
        try:
            await blocking(self.execute, job, ctx)
        finally:
            self._running.pop(job.id, None)
            self._wake.set()

    def execute(self, job: Claimed, ctx: JobContext) -> None:
        """Run the job's handler and record the outcome (in a worker thread)."""
        error: Exception | None = None
        with metrics.job_running(job.kind):
            try:
                self._handlers[job.kind](ctx)
            except Exception as exc:
                error = exc
        if error is not None and self._stopping is not None and self._stopping.is_set():
            self._hand_back(job, error)
            return
        try:
            if error is None:
                held = self.queue.complete(self.worker, job)
            else:
                held = self.queue.fail(self.worker, job, error_text(error))
        except Exception:
            log.exception("job %s (%s): outcome not recorded; it runs again once its lease "
                          "lapses", job.id, job.kind)
            return
        metrics.job_finished(job.kind, _outcome(job, error, held))
        _log_outcome(job, error, held)

    def _hand_back(self, job: Claimed, error: Exception) -> None:
        """A job stopped because this node is stopping: back to the queue for any node, its
        attempt not spent (no failure, no traceback)."""
        try:
            self.queue.release(self.worker, job)
        except Exception:
            log.warning("job %s (%s): not handed back; it runs again once its lease lapses",
                        job.id, job.kind)
            return
        log.info("job %s (%s) stopped with the node (%s); handed back to the queue", job.id,
                 job.kind, type(error).__name__)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            held = [job for job, _, _ in list(self._running.values())]
            if not held:
                continue
            try:
                kept = await blocking(self.queue.renew, self.worker, held, self.lease_seconds)
            except Exception:
                log.warning("could not renew job leases; trying again", exc_info=True)
                continue
            for job in held:
                entry = self._running.get(job.id)
                if job.id not in kept and entry is not None:
                    entry[1].cancelled.set()  # another node has it now: stop if we can


def _outcome(job: Claimed, error: Exception | None, held: bool) -> str:
    if not held:
        return "lost"
    if error is None:
        return "done"
    return "failed" if job.attempt >= job.max_attempts else "retried"


def _log_outcome(job: Claimed, error: Exception | None, held: bool) -> None:
    if not held:
        log.warning("job %s (%s) attempt %d: lost its lease meanwhile; another node runs it",
                    job.id, job.kind, job.attempt)
    elif error is None:
        log.debug("job %s (%s) done", job.id, job.kind)  # each periodic job, each second
    elif job.attempt >= job.max_attempts:
        log.error("job %s (%s) failed after %d attempts", job.id, job.kind, job.attempt,
                  exc_info=error)
    else:
        log.warning("job %s (%s) attempt %d failed; will retry", job.id, job.kind, job.attempt,
                    exc_info=error)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
