"""Telling every process of a PostgreSQL deployment that there is new work: a transaction that
appended events or queued jobs sends a NOTIFY, delivered when (and only if) it commits; each
process that runs jobs holds one connection that LISTENs and calls back. A listener that lost
its connection reconnects, and the job runners' periodic looks cover the gap. SQLite is one
node: a process tells its own runner (``Database.on_work``) and the others look each poll."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("berth.storage")

CHANNEL = "berth_work"
EVENTS, WORK = "events", "work"  # what a transaction did: appended events, queued work
BOTH = frozenset((EVENTS, WORK))


def news(tx) -> frozenset[str]:
    return frozenset((EVENTS,) * bool(tx.pending_events) + (WORK,) * bool(tx.queued_work))


def notify(cursor, what: frozenset[str]) -> None:
    """Send ``what`` on commit (identical notifications of a transaction arrive once)."""
    cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, ",".join(sorted(what))))

WAIT_SECONDS = 0.25  # how often the listening thread checks whether it should stop
RECONNECT_SECONDS = (0.5, 30.0)


class Listener:
    """A daemon thread LISTENing on its own connection, calling ``callback`` per notification."""

    def __init__(self, connect: Callable[[], object],
                 callback: Callable[[frozenset[str]], None]):
        self._connect = connect
        self._callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="work-listener", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening; the thread ends (closing its connection) within WAIT_SECONDS."""
        self._stop.set()

    def _run(self) -> None:
        delay = RECONNECT_SECONDS[0]
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = RECONNECT_SECONDS[0]
                    self._callback(BOTH)  # whatever was sent while it was not listening
                    while not self._stop.is_set():
                        for sent in conn.notifies(timeout=WAIT_SECONDS, stop_after=1):
                            self._callback(frozenset(sent.payload.split(",")) & BOTH)
            except Exception as exc:  # the database restarted, a proxy cut the connection...
                if self._stop.is_set():
                    return  # closed meanwhile (its database may be gone with it)
                log.warning("work listener lost its database connection (%s); reconnecting "
                            "in %.1f s", type(exc).__name__, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_SECONDS[1])
