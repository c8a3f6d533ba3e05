"""Principals whose pulls do not move an image's last recorded pull time (ECR's pull time
update exclusions: scanners, replication, CI caches), per registry. A pull asks only when
its image's pull time is due to be recorded (once per interval), and the answer is kept for
a few seconds, so an excluded scanner pulling all day costs no read per pull."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ...storage.metadata import lifecycle as rows
from ...storage.metadata.database import Database
from ..errors import RegistryError

MAX_EXCLUSIONS = 100  # ECR's PullTimeUpdateExclusionList holds at most 100
CACHE_SECONDS = 10.0


class ExclusionExists(RegistryError):
    code = "EXCLUSION_EXISTS"


class ExclusionUnknown(RegistryError):
    code = "EXCLUSION_UNKNOWN"


class TooManyExclusions(RegistryError):
    code = "TOO_MANY_EXCLUSIONS"


@dataclass(frozen=True)
class Exclusion:
    principal_arn: str
    created_at: float


class PullTimeExclusions:
    def __init__(self, db: Database, registry_id: int, clock=time.time):
        self.db = db
        self.registry_id = registry_id
        self.clock = clock
        self._cached: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def register(self, principal_arn: str) -> Exclusion:
        now = self.clock()
        with self.db.write() as tx:
            if len(rows.exclusions(tx, self.registry_id, "", MAX_EXCLUSIONS)) >= MAX_EXCLUSIONS:
                raise TooManyExclusions(f"at most {MAX_EXCLUSIONS} pull time update exclusions",
                                        {"principalArn": principal_arn})
            if not rows.add_exclusion(tx, self.registry_id, principal_arn, now):
                raise ExclusionExists(f"{principal_arn} is excluded already",
                                      {"principalArn": principal_arn})
        self._cached = None
        return Exclusion(principal_arn, now)

    def deregister(self, principal_arn: str) -> None:
        with self.db.write() as tx:
            if not rows.remove_exclusion(tx, self.registry_id, principal_arn):
                raise ExclusionUnknown(f"{principal_arn} is not excluded",
                                       {"principalArn": principal_arn})
        self._cached = None

    def page(self, after: str, limit: int) -> list[Exclusion]:
        with self.db.read() as tx:
            return [Exclusion(r.principal_arn, r.created_at)
                    for r in rows.exclusions(tx, self.registry_id, after, limit)]

    def excludes(self, principal_arn: str | None) -> bool:
        """Whether a pull by this principal leaves pull times alone (this node may see a
        change up to CACHE_SECONDS late)."""
        if not principal_arn:
            return False
        with self._lock:
            cached = self._cached
            if cached is None or self.clock() - cached[0] > CACHE_SECONDS:
                arns = frozenset(e.principal_arn for e in self.page("", MAX_EXCLUSIONS))
                cached = self._cached = (self.clock(), arns)
        return principal_arn in cached[1]
