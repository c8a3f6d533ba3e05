"""ECR Public's pull rates: anonymous pulls per source address, authenticated ones per
account, each a token bucket refilled at its rate and holding ten seconds' worth (a pull of
a multi-platform image asks for a few manifests at once). Counted per server process."""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..quotas.rates import Throttled

BURST_SECONDS = 10
IDLE_SECONDS = 60.0  # buckets untouched this long are full again: forgotten


class PullLimiter:
    def __init__(self, anonymous: int, authenticated: int,
                 clock: Callable[[], float] = time.monotonic):
        self.rates = {True: anonymous, False: authenticated}
        self.clock = clock
        self._buckets: dict[tuple[bool, str], list[float]] = {}  # -> [tokens, last refill]
        self._lock = threading.Lock()
        self._swept = clock()

    def take(self, anonymous: bool, who: str) -> None:
        """One pull by ``who`` (a source address, or an account); Throttled when its bucket
        is empty. A rate of 0 is no limit."""
        rate = self.rates[anonymous]
        if rate <= 0:
            return
        capacity, now = float(rate * BURST_SECONDS), self.clock()
        with self._lock:
            bucket = self._buckets.setdefault((anonymous, who), [capacity, now])
            bucket[0] = min(capacity, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if bucket[0] < 1.0:
                raise Throttled("Rate exceeded", (1.0 - bucket[0]) / rate)
            bucket[0] -= 1.0
            if now - self._swept > IDLE_SECONDS:
                self._swept = now
                for key in [k for k, (_, last) in self._buckets.items()
                            if now - last > IDLE_SECONDS]:
                    del self._buckets[key]
