"""Per-principal rates of the push and pull actions: a token bucket per (principal, action),
refilled at the action's rate quota (ECR's default, else the account's or the deployment's
override), holding a second's worth. The administrator's account is not limited (operators,
replication and benchmarks act as it). Counted per process: a node of N workers admits up to
N times the rate, as ECR's own per-host limits would."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

from ..storage.metadata.database import Database
from .models import RATES
from .services import values

RELOAD_SECONDS = 5.0  # how stale an account's rates may be after an override changes
IDLE_SECONDS = 60.0  # buckets untouched this long are full again: forgotten


class Throttled(Exception):
    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class Limiter:
    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic):
        self.db, self.clock = db, clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, last refill]
        self._rates: dict[str, tuple[dict[str, int], float]] = {}  # account -> (rates, at)
        self._lock = threading.Lock()
        self._swept = clock()

    def take(self, principal: str, account_id: str, action: str) -> None:
        """One request of ``action``; Throttled if the principal's bucket is empty."""
        if action not in RATES:
            return
        rate = self._rates_of(account_id)[action]
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault((principal, action), [float(rate), now])
            bucket[0] = min(float(rate), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if bucket[0] < 1.0:
                wait = (1.0 - bucket[0]) / rate if rate else 60.0
                raise Throttled(f"Rate exceeded: {action} is limited to {rate} requests per "
                                f"second for {principal}", wait)
            bucket[0] -= 1.0
            if now - self._swept > IDLE_SECONDS:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key in [k for k, (_, last) in self._buckets.items() if now - last > IDLE_SECONDS]:
            del self._buckets[key]

    def _rates_of(self, account_id: str) -> dict[str, int]:
        found = self._rates.get(account_id)
        if found is None or self.clock() - found[1] > RELOAD_SECONDS:
            with self.db.read() as tx:
                quotas = values(tx, account_id)
            rates = {action: quotas["Rate:" + action.split(":", 1)[1]] for action in RATES}
            found = self._rates[account_id] = (rates, self.clock())
        return found[0]
