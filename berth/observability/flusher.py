"""A thread that writes what an observer gathered in memory (usage counts, audit events)
every ``interval`` seconds, and once more when stopped. A failed write is logged once per
outage; the target keeps what it could not write for the next attempt."""
from __future__ import annotations

import logging
import threading
from typing import Protocol

from ..storage.metadata.database import Database
from .outage import Outage

log = logging.getLogger("berth.observability")


class Flushable(Protocol):
    def flush(self, db: Database) -> int: ...


class Flusher:
    def __init__(self, what: str, target: Flushable, db: Database, interval: float):
        self.what, self.target, self.db, self.interval = what, target, db, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = Outage(f"writing {what}", log)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.what}-flush",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush_once()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush_once()

    def flush_once(self) -> None:
        try:
            self.target.flush(self.db)
        except Exception:  # kept in memory for the next attempt
            self._outage.failed()
        else:
            self._outage.ended()
