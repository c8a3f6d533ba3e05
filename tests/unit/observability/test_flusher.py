"""The flusher thread's failures (observability.flusher): a write that keeps failing (the
database away) is logged once per outage, with its cause, and a line says when writes work
again; the target keeps what it could not write."""
from __future__ import annotations

import logging

from berth.observability.flusher import Flusher


class Target:
    def __init__(self):
        self.failing = True
        self.written = 0

    def flush(self, db) -> int:
        if self.failing:
            raise ConnectionError("the database is away")
        self.written += 1
        return 1


def test_a_failing_write_is_logged_once_per_outage(caplog):
    target = Target()
    flusher = Flusher("usage counts", target, db=None, interval=3600)
    with caplog.at_level(logging.INFO, logger="berth.observability"):
        for _ in range(5):
            flusher.flush_once()
        target.failing = False
        flusher.flush_once()
        flusher.flush_once()
        target.failing = True
        flusher.flush_once()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "writing usage counts failed; trying again quietly until it works",
        "writing usage counts works again (after 5 failures)",
        "writing usage counts failed; trying again quietly until it works"]
    assert str(caplog.records[0].exc_info[1]) == "the database is away"
    assert target.written == 2
