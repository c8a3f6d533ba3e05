"""Records of named loggers, at every level, for tests of what Berth logs. (pytest's caplog
listens at the root, which Berth's own loggers may not propagate to once logging is set up.)"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator


@contextlib.contextmanager
def records_of(*names: str, level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """The records the loggers ``names`` handle meanwhile; the first is set to ``level``."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in names]
    previous = loggers[0].level
    for logger in loggers:
        logger.addHandler(handler)
    loggers[0].setLevel(level)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        loggers[0].setLevel(previous)
