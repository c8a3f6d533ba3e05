"""Token buckets in memory a node's worker processes share, so that a rate holds for the node
rather than for each worker: one shared mapping, made by the supervisor before it forks the
workers (``prepare_node``), else by the process for itself. Fixed slots, found from a hash of
the bucket's key with a few probes; a bucket untouched for IDLE_SECONDS is full again, so its
slot is free. Updates hold the process's thread lock and a POSIX record lock on the mapping's
file, which the kernel releases should a worker die holding it."""
from __future__ import annotations

import fcntl
import hashlib
import mmap
import struct
import tempfile
import threading

SLOTS = 8192
PROBES = 8
IDLE_SECONDS = 60.0
_SLOT = struct.Struct("<Qdd")  # key hash (0: free), tokens, last refill (CLOCK_MONOTONIC)

_node: "Buckets | None" = None


class Buckets:
    def __init__(self, slots: int = SLOTS):
        self._file = tempfile.TemporaryFile()  # unlinked: the descriptor is all there is
        self._file.truncate(slots * _SLOT.size)
        self._map = mmap.mmap(self._file.fileno(), slots * _SLOT.size, mmap.MAP_SHARED)
        self._slots = slots
        self._threads = threading.Lock()

    def take(self, key: str, rate: float, capacity: float, now: float) -> float | None:
        """Take one token from ``key``'s bucket (refilled at ``rate`` per second, holding
        ``capacity``); None if there was one, else the seconds until there is."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(),
                                "little") or 1
        with self._threads:
            fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX)
            try:
                offset, tokens, last = self._slot(digest, capacity, now)
                tokens = min(capacity, tokens + max(0.0, now - last) * rate)
                wait = None
                if tokens < 1.0:
                    wait = (1.0 - tokens) / rate if rate > 0 else IDLE_SECONDS
                else:
                    tokens -= 1.0
                _SLOT.pack_into(self._map, offset, digest, tokens, now)
                return wait
            finally:
                fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)

    def _slot(self, digest: int, capacity: float, now: float) -> tuple[int, float, float]:
        """(offset, tokens, last refill) of the key's slot: its own, else a free one (full),
        else the stalest of those probed, taken over (full)."""
        stalest = None
        for probe in range(PROBES):
            offset = ((digest + probe) % self._slots) * _SLOT.size
            held, tokens, last = _SLOT.unpack_from(self._map, offset)
            if held == digest:
                return offset, tokens, last
            if held == 0 or now - last > IDLE_SECONDS:
                return offset, capacity, now
            if stalest is None or last < stalest[1]:
                stalest = (offset, last)
        return stalest[0], capacity, now


def prepare_node() -> None:
    """In the supervisor, before forking workers: the buckets they will share."""
    global _node
    _node = Buckets()


def node_buckets() -> Buckets:
    """The node's shared buckets if the supervisor made them, else this process's own."""
    global _node
    if _node is None:
        _node = Buckets()
    return _node
