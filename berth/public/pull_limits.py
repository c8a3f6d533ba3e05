"""ECR Public's pull rates: anonymous pulls per source address, authenticated ones per
account, each a token bucket refilled at its rate and holding ten seconds' worth (a pull of
a multi-platform image asks for a few manifests at once). Counted for the deployment, as the
per-principal rates are (berth/quotas/buckets.py, berth/quotas/sharing.py)."""
from __future__ import annotations

import time
from typing import Callable

from ..quotas.buckets import Buckets
from ..quotas.rates import Throttled

BURST_SECONDS = 10


class PullLimiter:
    def __init__(self, anonymous: int, authenticated: int,
                 clock: Callable[[], float] = time.monotonic, buckets: Buckets | None = None,
                 namespace: str = ""):
        self.rates = {True: anonymous, False: authenticated}
        self.clock = clock
        self._buckets = buckets or Buckets()  # the app passes the node's
        self._namespace = f"public-pull\0{namespace}\0"

    def take(self, anonymous: bool, who: str) -> None:
        """One pull by ``who`` (a source address, or an account); Throttled when its bucket
        is empty. A rate of 0 is no limit."""
        rate = self.rates[anonymous]
        if rate <= 0:
            return
        wait = self._buckets.take(f"{self._namespace}{int(anonymous)}\0{who}", rate,
                                  float(rate * BURST_SECONDS), self.clock())
        if wait is not None:
            raise Throttled("Rate exceeded", wait)
