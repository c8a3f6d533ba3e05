"""Recording requests in the audit trail without a database write per request: the observer
only keeps each audited request's record and time (a microsecond on the event loop); a
flusher turns them into rows and writes them every second in one transaction (and once more
when the process stops). At most ``max_pending`` rows wait while the
database refuses writes; further ones are counted as dropped."""
from __future__ import annotations

import logging
import threading
import time

from ..observability import RequestRecord
from ..storage.metadata import audit as rows
from ..storage.metadata.database import Database
from .events import from_request, name_of

log = logging.getLogger("berth.audit")

MAX_PENDING = 100_000


def _row(item: tuple[float, RequestRecord]) -> dict | None:
    """One record's row; a record that cannot be one is logged and skipped, never blocking
    the others."""
    when, record = item
    try:
        return from_request(record, when)
    except Exception:
        log.exception("audit: a request record could not be turned into an event")
        return None


class AuditRecorder:
    def __init__(self, max_pending: int = MAX_PENDING):
        self.max_pending = max_pending
        self.dropped = 0
        self._pending: list[tuple[float, RequestRecord]] = []
        self._lock = threading.Lock()

    def observe(self, record: RequestRecord) -> None:
        """The request observer: cheap, and never raises into the request."""
        try:
            if name_of(record) is None:
                return
        except Exception:
            log.exception("audit: a request record could not be named")
            return
        with self._lock:
            if len(self._pending) < self.max_pending:
                self._pending.append((time.time(), record))
                return
        if not self.dropped:
            log.warning("audit: %d events wait to be written; further ones are dropped",
                        self.max_pending)
        self.dropped += 1

    def flush(self, db: Database) -> int:
        """Write what waits; on failure keep it for the next flush."""
        with self._lock:
            taken, self._pending = self._pending, []
        if not taken:
            return 0
        try:
            with db.write(durable=False) as tx:
                rows.add(tx, [row for row in map(_row, taken) if row is not None])
        except BaseException:
            with self._lock:
                self._pending[:0] = taken[:self.max_pending]
            raise
        return len(taken)
