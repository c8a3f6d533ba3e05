"""A failure logged once per outage: with its traceback when it starts, a line when it ends.
A database or disk that is away fails every poll, every second: logging each would bury the
lines that matter (and grow the log while the disk is full)."""
from __future__ import annotations

import logging


class Outage:
    def __init__(self, what: str, log: logging.Logger):
        self.what, self.log = what, log
        self.failures = 0

    def failed(self) -> None:
        """Call from the ``except`` block that caught the failure."""
        self.failures += 1
        if self.failures == 1:
            self.log.exception("%s failed; trying again quietly until it works", self.what)

    def ended(self) -> None:
        if self.failures:
            self.log.info("%s works again (after %d failures)", self.what, self.failures)
            self.failures = 0
