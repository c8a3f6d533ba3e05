"""Metric values that count in memory and reach the shared files about once a second.

In multi-process mode every prometheus_client value write is a lock, a getpid() and a
write into an mmap'd file: a request's counters and histograms cost tens of microseconds,
a fifth of a cached manifest GET. A buffered value only adds to a float under its own lock;
a daemon thread moves what was added into the real (mmap) value every FLUSH_SECONDS, and
the process flushes once more when it exits or marks itself dead, and before it answers a
scrape itself. What a scrape misses is at most the last second of another live worker (a
SIGKILLed one loses that second). ``set`` (a sampled gauge) writes through at once.

prometheus_client picks the class of every new value from ``values.ValueClass``:
``install()`` wraps the class it chose, before any metric is made."""
from __future__ import annotations

import atexit
import os
import threading
import weakref

from prometheus_client import values

FLUSH_SECONDS = 1.0


class _Buffers:
    """This process's buffered values and the thread that flushes them."""

    def __init__(self):
        self.values: weakref.WeakSet[BufferedValue] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.pid = 0  # the process the flusher thread runs in (a fork has none)
        os.register_at_fork(after_in_child=self._forked)

    def add(self, value: BufferedValue) -> None:
        with self.lock:
            self.values.add(value)
            if self.pid != os.getpid():
                self._start()

    def _start(self) -> None:
        self.pid = os.getpid()
        threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()

    def _forked(self) -> None:
        """A worker forked from a process that made values (the supervisor, which built the
        application): locks its flusher may have held at the fork are made afresh, and the
        values inherited get a flusher of this process."""
        self.lock = threading.Lock()
        self.pid = 0
        for value in list(self.values):
            value._lock = threading.Lock()
        if self.values:
            self._start()

    def flush(self) -> None:
        with self.lock:
            pending = list(self.values)
        for value in pending:
            value.flush()

    def _run(self) -> None:
        stop = threading.Event()  # never set: the thread sleeps between flushes
        while not stop.wait(FLUSH_SECONDS):
            self.flush()


_buffers = _Buffers()
atexit.register(_buffers.flush)


class BufferedValue:
    """The interface of prometheus_client's values, over a real one made by ``real``."""

    _multiprocess = True
    real = None  # the wrapped value class, set by install()

    __slots__ = ("_real", "_pending", "_lock", "__weakref__")

    def __init__(self, *args, **kwargs):
        self._real = self.real(*args, **kwargs)
        self._pending = 0.0
        self._lock = threading.Lock()
        _buffers.add(self)

    def inc(self, amount: float) -> None:
        with self._lock:
            self._pending += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        with self._lock:
            self._pending = 0.0
            self._real.set(value, timestamp)

    def get(self) -> float:
        with self._lock:
            return self._real.get() + self._pending

    def flush(self) -> None:
        with self._lock:
            amount, self._pending = self._pending, 0.0
            if amount:
                self._real.inc(amount)

    def set_exemplar(self, exemplar) -> None:
        self._real.set_exemplar(exemplar)

    def get_exemplar(self):
        return self._real.get_exemplar()


def install() -> None:
    """Buffer every value made from now on, if values are multi-process (in-memory values
    are already cheap). Idempotent."""
    chosen = values.ValueClass
    if getattr(chosen, "_multiprocess", False) and not issubclass(chosen, BufferedValue):
        values.ValueClass = type("BufferedMmapedValue", (BufferedValue,), {"real": chosen,
                                                                           "__slots__": ()})


def flush() -> None:
    """Now, in this process (before it marks itself dead or answers a scrape)."""
    _buffers.flush()
