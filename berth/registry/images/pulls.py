"""When images were last pulled: bookkeeping that never fails a pull.

A pull stamps its manifest at a coarse interval (ManifestService). The stamp is written at
once while the metadata database takes writes. When it does not (a full disk, a database
that is locked or away), the pull still succeeds: the stamp waits in memory, one per
manifest, and is written on a later pull once the retry time has come, or by a thread that
retries every ``retry_seconds`` while stamps wait. The failure is logged once per outage
(and its end once), and counted (``failures``); at most ``max_pending`` stamps wait, further
ones are counted (``dropped``) and lost -- they are statistics, not data.

One log per metadata database per process (``pull_log``): every registry scope shares it.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from itertools import groupby

from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata.database import Database

log = logging.getLogger("berth.registry.pulls")

RETRY_SECONDS = 5.0
MAX_PENDING = 100_000

# (repository id, digest) -> (when pulled, the stamp is skipped if one is newer than this)
_Key = tuple[int, str]
_Stamp = tuple[float, float]


class PullLog:
    def __init__(self, db: Database, retry_seconds: float = RETRY_SECONDS,
                 max_pending: int = MAX_PENDING):
        self.db = db
        self.retry_seconds = retry_seconds
        self.max_pending = max_pending
        self.failures = 0  # writes of stamps that failed
        self.dropped = 0   # stamps lost because max_pending were waiting
        self._pending: dict[_Key, _Stamp] = {}
        self._lock = threading.Lock()
        self._retry_at = 0.0  # time.monotonic() of the next attempt while stamps wait
        self._failing = False
        self._retrier: threading.Thread | None = None
        self._closed = threading.Event()

    # -- on the event loop -----------------------------------------------------------------
    def latest(self, repo_id: int, digest: str, recorded: float | None) -> float | None:
        """The last pull of a manifest, counting a stamp still waiting in memory."""
        waiting = self._pending.get((repo_id, digest))
        if waiting is None:
            return recorded
        return waiting[0] if recorded is None else max(recorded, waiting[0])

    # -- in worker threads -----------------------------------------------------------------
    def record(self, repo_id: int, digests: list[str], now: float, interval: float) -> None:
        """Stamp the manifests pulled ``now`` (unless a stamp within ``interval`` before is
        on record), with any waiting stamps if their retry time has come. Never raises."""
        stamps = {(repo_id, digest): (now, now - interval) for digest in digests}
        with self._lock:
            if self._pending:
                if time.monotonic() < self._retry_at:
                    self._keep(stamps)
                    return
                stamps = self._take_pending(stamps)
        self._write(stamps)

    def flush(self) -> bool:
        """Write the waiting stamps now; whether none is left waiting."""
        with self._lock:
            stamps = self._take_pending({})
        if stamps:
            self._write(stamps)
        return not self._pending

    def close(self) -> None:
        """Stop retrying (waiting stamps stay in memory)."""
        self._closed.set()

    def _write(self, stamps: dict[_Key, _Stamp]) -> None:
        try:
            _write(self.db, stamps)
        except Exception as exc:  # whatever it is, the pull has been served
            self._failed(stamps, exc)
            return
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("pull times are recorded again (%d writes had failed; %d stamps were "
                     "lost)", self.failures, self.dropped)

    def _failed(self, stamps: dict[_Key, _Stamp], exc: Exception) -> None:
        with self._lock:
            self.failures += 1
            first, self._failing = not self._failing, True
            self._retry_at = time.monotonic() + self.retry_seconds
            self._keep(stamps)
            self._start_retrier()
        if first:
            log.warning("could not record pull times (%s: %s): pulls are served, their times "
                        "are kept in memory and written once the metadata database takes "
                        "them (retrying every %g s)", type(exc).__name__, exc,
                        self.retry_seconds)

    # -- with the lock held ----------------------------------------------------------------
    def _take_pending(self, stamps: dict[_Key, _Stamp]) -> dict[_Key, _Stamp]:
        pending, self._pending = self._pending, {}
        for key, stamp in stamps.items():
            pending[key] = max(stamp, pending.get(key, stamp))
        return pending

    def _keep(self, stamps: dict[_Key, _Stamp]) -> None:
        for key, stamp in stamps.items():
            waiting = self._pending.get(key)
            if waiting is not None:
                self._pending[key] = max(stamp, waiting)
            elif len(self._pending) < self.max_pending:
                self._pending[key] = stamp
            else:
                if not self.dropped:
                    log.warning("%d pull times wait to be written: further ones are dropped",
                                self.max_pending)
                self.dropped += 1

    def _start_retrier(self) -> None:
        if self._retrier is None and not self._closed.is_set():
            self._retrier = threading.Thread(target=self._retry, name="berth-pull-times",
                                             daemon=True)
            self._retrier.start()

    def _retry(self) -> None:
        while not self._closed.wait(max(0.0, self._retry_at - time.monotonic())):
            with self._lock:
                if not self._pending:
                    self._retrier = None  # a later failure starts another
                    return
                if time.monotonic() < self._retry_at:
                    continue
                stamps = self._take_pending({})
            self._write(stamps)
        with self._lock:
            self._retrier = None


def _write(db: Database, stamps: dict[_Key, _Stamp]) -> None:
    """One transaction: a statement per repository and pull time."""
    def group(item):
        (repo_id, _), stamp = item
        return repo_id, stamp

    with db.write(durable=False) as tx:
        for (repo_id, (now, older_than)), items in groupby(sorted(stamps.items(), key=group),
                                                            key=group):
            manifest_rows.record_pulls(tx, repo_id, [digest for (_, digest), _ in items],
                                       now, older_than)


_LOGS: "weakref.WeakKeyDictionary[Database, PullLog]" = weakref.WeakKeyDictionary()
_LOGS_LOCK = threading.Lock()


def pull_log(db: Database) -> PullLog:
    """The process's pull log for ``db``."""
    with _LOGS_LOCK:
        found = _LOGS.get(db)
        if found is None:
            found = _LOGS[db] = PullLog(db, RETRY_SECONDS, MAX_PENDING)
        return found
