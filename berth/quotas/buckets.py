"""Token buckets in memory a node's worker processes share, so that a rate holds for the node
rather than for each worker: one shared mapping, made by the supervisor before it forks the
workers (``prepare_node``), else by the process for itself. Fixed slots, found from a hash of
the bucket's key with a few probes; a bucket untouched for IDLE_SECONDS is full again, so its
slot is free. Updates hold the process's thread lock and a POSIX record lock on the mapping's
file, which the kernel releases should a worker die holding it.

Each slot also counts what it admitted since the node last told the deployment's other nodes
(``drain``), and takes what they admitted (``debit``): see berth/quotas/sharing.py."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import struct
import tempfile
import threading
import uuid

SLOTS = 8192
PROBES = 8
IDLE_SECONDS = 60.0
# key hash (0: free), tokens, last refill (CLOCK_MONOTONIC), admitted since the last drain,
# capacity (the floor of a debt: -capacity)
_SLOT = struct.Struct("<Qdddd")

_node: "Buckets | None" = None


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1


class Buckets:
    def __init__(self, slots: int = SLOTS):
        self._file = tempfile.TemporaryFile()  # unlinked: the descriptor is all there is
        self._file.truncate(slots * _SLOT.size)
        self._map = mmap.mmap(self._file.fileno(), slots * _SLOT.size, mmap.MAP_SHARED)
        self._slots = slots
        self._threads = threading.Lock()
        self._syncer = tempfile.TemporaryFile()  # its lock names the node's one syncer
        self.node_id = uuid.uuid4().hex  # the same in every worker forked from its maker

    def take(self, key: str, rate: float, capacity: float, now: float) -> float | None:
        """Take one token from ``key``'s bucket (refilled at ``rate`` per second, holding
        ``capacity``); None if there was one, else the seconds until there is."""
        digest = key_hash(key)
        with self._locked():
            offset, tokens, last, taken = self._slot(digest, capacity, now)
            tokens = min(capacity, tokens + max(0.0, now - last) * rate)
            wait = None
            if tokens < 1.0:
                wait = (1.0 - tokens) / rate if rate > 0 else IDLE_SECONDS
            else:
                tokens -= 1.0
                taken += 1.0
            _SLOT.pack_into(self._map, offset, digest, tokens, now, taken, capacity)
            return wait

    def drain(self) -> dict[int, int]:
        """What each bucket admitted since the last drain (by key hash), counted afresh."""
        found: dict[int, int] = {}
        width = _SLOT.size // 8  # a slot's 8-byte fields
        with self._locked(), memoryview(self._map) as raw, raw.cast("d") as floats, \
                raw.cast("Q") as ints:
            # One strided read of every slot's count: the lock is held a fraction of a ms.
            for slot, taken in enumerate(floats[3::width].tolist()):
                if taken >= 1.0:
                    found[ints[slot * width]] = int(taken)
                    floats[slot * width + 3] = 0.0
        return found

    def debit(self, taken: dict[int, int]) -> None:
        """Take what other nodes admitted from the buckets this node holds for those keys,
        down to a debt of one capacity (a key this node holds no bucket for has nothing to
        take from: its first take here finds a full one)."""
        with self._locked():
            for digest, count in taken.items():
                if (own := self._own(digest)) is not None:
                    offset, (_, tokens, last, mine, capacity) = own
                    _SLOT.pack_into(self._map, offset, digest,
                                    max(-capacity, tokens - count), last, mine, capacity)

    def claim_syncer(self) -> bool:
        """Whether this process is (now) the node's one syncer: the first to ask holds it
        until it exits (the kernel then frees it for another)."""
        try:
            fcntl.lockf(self._syncer.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    @contextlib.contextmanager
    def _locked(self):
        with self._threads:
            fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)

    def _probed(self, digest: int):
        """(offset, fields) of each slot the key may hold."""
        for probe in range(PROBES):
            offset = ((digest + probe) % self._slots) * _SLOT.size
            yield offset, _SLOT.unpack_from(self._map, offset)

    def _own(self, digest: int) -> tuple[int, tuple] | None:
        return next(((offset, fields) for offset, fields in self._probed(digest)
                     if fields[0] == digest), None)

    def _slot(self, digest: int, capacity: float, now: float
              ) -> tuple[int, float, float, float]:
        """(offset, tokens, last refill, admitted) of the key's slot: its own (wherever it
        is among the probed ones), else a free one, else the stalest, taken over (full: an
        idle one is full again anyway, and a busy one's key starts afresh)."""
        own = self._own(digest)
        if own is not None:
            offset, (_, tokens, last, taken, _) = own
            return offset, tokens, last, taken
        offset, _ = min(self._probed(digest), key=lambda slot: (slot[1][0] != 0, slot[1][2]))
        return offset, capacity, now, 0.0


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
