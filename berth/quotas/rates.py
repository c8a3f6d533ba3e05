"""Per-principal rates of the push and pull actions: a token bucket per (principal, action),
refilled at the action's rate quota (ECR's default, else the account's or the deployment's
override), holding a second's worth. The administrator's account is not limited (operators,
replication and benchmarks act as it). Counted for the deployment: a node's worker processes
share its buckets (berth/quotas/buckets.py), and the nodes share what they admitted
(berth/quotas/sharing.py)."""
from __future__ import annotations

import math
import time
from typing import Callable

from ..storage.metadata.database import Database
from .buckets import Buckets
from .models import RATES
from .services import values

RELOAD_SECONDS = 5.0  # how stale an account's rates may be after an override changes


class Throttled(Exception):
    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class Limiter:
    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic,
                 buckets: Buckets | None = None, deployment: str = ""):
        self.db, self.clock = db, clock
        self._buckets = buckets or Buckets()  # the app passes the node's
        # The deployment's (its administrator's account id: the same on every node, and not
        # another deployment's that shares this node's buckets).
        self._namespace = f"rate\0{deployment or db.url}\0"
        self._rates: dict[str, tuple[dict[str, int], float]] = {}  # account -> (rates, at)

    def take(self, principal: str, account_id: str, action: str) -> None:
        """One request of ``action``; Throttled if the principal's bucket is empty."""
        if action not in RATES:
            return
        rate = self._rates_of(account_id)[action]
        wait = self._buckets.take(f"{self._namespace}{principal}\0{action}", rate, rate,
                                  self.clock())
        if wait is not None:
            raise Throttled(f"Rate exceeded: {action} is limited to {rate} requests per "
                            f"second for {principal}", wait)

    def _rates_of(self, account_id: str) -> dict[str, int]:
        found = self._rates.get(account_id)
        if found is None or self.clock() - found[1] > RELOAD_SECONDS:
            with self.db.read() as tx:
                quotas = values(tx, account_id)
            rates = {action: quotas["Rate:" + action.split(":", 1)[1]] for action in RATES}
            found = self._rates[account_id] = (rates, self.clock())
        return found[0]
