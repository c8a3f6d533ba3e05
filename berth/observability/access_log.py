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
import collections
import logging
import os
import threading
import time

from . import RequestRecord
from .logs import ACCESS, access_fields, access_message, berth_handler

log = logging.getLogger("berth.access")

FLUSH_SECONDS = 0.1


def access_log(record: RequestRecord) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    handler = berth_handler()
    if handler is None:
        log.info(access_message(record), extra={ACCESS: access_fields(record)})
        return
    _lines.add(handler, handler.formatter.access_line(time.time(), record))


class _Lines:
    """Formatted lines waiting for the flusher thread (one per process: started on first
    use, so a forked worker starts its own). Lines only, in a deque: no tuple per request for
    the garbage collector to carry through its generations until the flush, and append and
    popleft are atomic (a line added while a flush runs waits for the next)."""

    def __init__(self):
        self.pending: collections.deque[str] = collections.deque()
        self.handler: logging.Handler | None = None  # the one the pending lines are for
        self.lock = threading.Lock()
        self.started = False  # in this process: a forked child starts its own thread
        os.register_at_fork(after_in_child=self._forked)

    def add(self, handler: logging.Handler, line: str) -> None:
        if handler is not self.handler or not self.started:
            self._start(handler)  # first use (a flag, not a getpid() call per request)
        self.pending.append(line)

    def _start(self, handler: logging.Handler) -> None:
        with self.lock:
            if handler is not self.handler:  # a new handler (logging reinstalled)
                self._write()
                self.handler = handler
            if not self.started:
                self.started = True
                threading.Thread(target=self._run, name="access-log", daemon=True).start()

    def _forked(self) -> None:
        self.lock = threading.Lock()  # the parent's could have been held at the fork
        self.pending = collections.deque()  # the parent's lines: the parent writes them
        self.started = False

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        pending, handler = self.pending, self.handler
        lines = [pending.popleft() for _ in range(len(pending))]
        if not lines or handler is None:
            return
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
