"""Running sha256 states of in-progress uploads, kept in process memory.

A chunked upload whose next chunk reaches the same process continues its hash; one that moved
to another worker or node (or outlived a restart) is re-read once at completion instead.
"""
from __future__ import annotations

import threading
from collections import OrderedDict


class HasherCache:
    def __init__(self, capacity: int = 1024):
        self._capacity = capacity
        self._items: OrderedDict[str, tuple[int, object]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, upload_id: str, size: int):
        """The hasher covering exactly ``size`` bytes, removed from the cache, or None."""
        with self._lock:
            item = self._items.pop(upload_id, None)
        if item is None or item[0] != size:
            return None
        return item[1]

    def put(self, upload_id: str, size: int, hasher) -> None:
        with self._lock:
            self._items[upload_id] = (size, hasher)
            self._items.move_to_end(upload_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def discard(self, upload_id: str) -> None:
        with self._lock:
            self._items.pop(upload_id, None)
