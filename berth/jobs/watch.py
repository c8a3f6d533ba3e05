"""Work on demand, with no job row: kinds of background work whose progress the database holds
already (an outbox subscriber's cursor, a webhook target's pending deliveries). A cheap read
(``pending``), made every ``look`` seconds and at once when this process was told of new work,
names the kinds that have work now; each then runs in this process unless it is running here
already. A kind starts at most once per gap: ``gap`` seconds after a run that handled a few
items (``batch`` or fewer: a push's events go out within a gap or two), twice the last gap, up
to ``look``, after a larger one (a busy stream is handled in larger batches, not a write per
commit). A failure backs off in this process. A node killed mid-run loses nothing: whoever
looks next finds the work still pending, so an idle deployment writes nothing for these."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..storage.metadata.work_signal import EVENTS, WORK
from .queue import retry_delay

log = logging.getLogger("berth.jobs")


@dataclass(frozen=True)
class Watch:
    pending: Callable[[], Iterable[str]]
    handlers: dict[str, Callable]  # kind -> handler(JobContext) -> items handled (or None)
    news: str = WORK  # the commits that bring it work: appended events, or queued work
    look: float = 1.0
    gap: float = 0.02
    batch: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 60.0

    def __post_init__(self):
        if self.news not in (EVENTS, WORK):
            raise ValueError(f"a watch hears of {EVENTS!r} or {WORK!r}")
        if (self.look <= 0 or self.gap < 0 or self.backoff_base <= 0
                or self.backoff_cap < self.backoff_base):
            raise ValueError("a watch's gap must be >= 0 and its backoff positive")


class Watcher:
    """One process's state of a watch: what runs here, and when each kind may run next."""

    def __init__(self, watch: Watch, clock: Callable[[], float] = time.monotonic):
        self.watch = watch
        self.clock = clock
        self.running: set[str] = set()
        self._next: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._gaps: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._due_at = float("-inf")  # when to look next: now, once poked

    def poke(self) -> None:
        """There may be new work: look at the next poll, whenever the last look was."""
        self._due_at = float("-inf")

    def looking(self) -> list[str]:
        """The kinds that may start now if a look is due (the caller then reads ``pending``
        and hands both to ``choose``); none if no look is due."""
        now = self.clock()
        if now < self._due_at:
            return []
        idle = [k for k in self.watch.handlers if k not in self.running]
        free = [k for k in idle if self._next.get(k, 0.0) <= now]
        # None free: look when the first held back may start (or a running one finishes).
        self._due_at = (now + self.watch.look if free else
                        min((self._next[k] for k in idle), default=float("inf")))
        return free

    def choose(self, free: list[str], found: set[str]) -> list[str]:
        """Of the kinds free at the look, those with work; work that a kind's gap or backoff
        holds back brings the next look forward to when it may start."""
        held = [self._next[k] for k in self.watch.handlers
                if k in found and k not in self.running and k not in free]
        self._due_at = min([self._due_at, *held])
        return [k for k in free if k in found and k not in self.running]

    def wait(self) -> float:
        """Seconds until the next look is due (inf: none until a kind finishes or a poke)."""
        return max(0.0, self._due_at - self.clock())

    def started(self, kind: str) -> None:
        self.running.add(kind)
        self._started[kind] = self.clock()
        self._next[kind] = self._started[kind] + self._gaps.get(kind, self.watch.gap)

    def finished(self, kind: str, error: BaseException | None, handled: int | None = None
                 ) -> None:
        self.running.discard(kind)
        self._due_at = float("-inf")  # work may have come while it ran
        if error is None:
            self._failures.pop(kind, None)
            gap = self.watch.gap
            if handled is not None and handled > self.watch.batch:
                gap = min(self.watch.look, 2 * self._gaps.get(kind, gap))
            self._gaps[kind] = gap
            self._next[kind] = self._started[kind] + gap
            return
        failures = self._failures[kind] = self._failures.get(kind, 0) + 1
        delay = retry_delay(failures, self.watch.backoff_base, self.watch.backoff_cap,
                            rand=lambda: 1.0)  # no jitter: one process's own retries
        self._next[kind] = max(self._next.get(kind, 0.0), self.clock() + delay)
        log.warning("%s failed (%d in a row); looking again in %.0f s", kind, failures, delay,
                    exc_info=error)
