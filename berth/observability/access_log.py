"""The access log: one line per request at info, on logger ``berth.access``. It names the
route template, never the request's path or query string, so no presigned URL's signature,
token or repository-path secret can reach the log through it.

A line goes through ``logging`` (a record, filters, a handler's lock, a write and a flush
per line) only where Berth's own handler is not installed (tests capturing the logger).
Under ``berth serve`` the line is formatted as Berth's handler formats it and kept in memory;
a thread writes what was kept to that handler's stream every ``FLUSH_SECONDS`` (and at
exit), as a web server buffers its access log: a request pays a few microseconds, not a
syscall. A SIGKILLed process loses at most that last fraction of a second of lines."""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from . import RequestRecord
from .logs import ACCESS, access_fields, berth_handler

log = logging.getLogger("berth.access")

_LINE = "%s %s %s %d in=%d out=%d %.1fms principal=%s from=%s"
FLUSH_SECONDS = 0.1


def access_log(record: RequestRecord) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    message = _LINE % (record.method, record.route, record.repository or "-", record.status,
                       record.bytes_in, record.bytes_out, record.seconds * 1000,
                       record.principal_arn or "-", record.source_ip or "-")
    handler = berth_handler()
    if handler is None:
        log.info(message, extra={ACCESS: access_fields(record)})
        return
    _lines.add(handler, handler.formatter.access_line(time.time(), message, record))


class _Lines:
    """Formatted lines waiting for the flusher thread (one per process: started on first
    use, so a forked worker starts its own)."""

    def __init__(self):
        self.pending: list[tuple[logging.Handler, str]] = []
        self.lock = threading.Lock()
        self.pid = 0

    def add(self, handler: logging.Handler, line: str) -> None:
        if self.pid != os.getpid():
            self._start()
        self.pending.append((handler, line))  # one append: atomic under the GIL

    def _start(self) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._run, name="access-log", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            taken, self.pending = self.pending, []
        by_handler: dict[logging.Handler, list[str]] = {}
        for handler, line in taken:
            by_handler.setdefault(handler, []).append(line)
        for handler, lines in by_handler.items():
            handler.acquire()  # never inside another line the handler is writing
            try:
                handler.stream.write("\n".join(lines) + "\n")
                handler.stream.flush()
            except (OSError, ValueError):  # a closed or full stream: as logging would, go on
                pass
            finally:
                handler.release()


_lines = _Lines()
flush = _lines.flush
atexit.register(flush)
