"""What nodes derive from identities and policies (callers, parsed policies), cached while
the database's "iam" generation stands still. Every request reads the generation (one
indexed row) in the transaction it uses for any misses, so a change made through any node
is honoured by every node from its next request on."""
from __future__ import annotations

import threading
from typing import Any, Callable

from . import registries as rows
from .database import Tx
from .registries import IAM_GENERATION


class GenerationCache:
    """Entries derived from the database, kept while the generation counter ``name`` (bumped
    in the same transaction as every change they derive from) stands still."""

    def __init__(self, name: str = IAM_GENERATION) -> None:
        self.name = name
        self._current: tuple[int, dict] = (-1, {})
        self._lock = threading.Lock()

    def entries(self, tx: Tx) -> dict:
        """The cache for the generation ``tx`` sees. A transaction that sees an older
        generation than the newest seen gets a throwaway dict, so it cannot store stale
        entries where newer readers would find them."""
        generation = rows.generation(tx, self.name)
        current = self._current
        if current[0] == generation:
            return current[1]
        with self._lock:
            if generation > self._current[0]:
                self._current = (generation, {})
            current = self._current
        return current[1] if current[0] == generation else {}


def cached(entries: dict, key: Any, load: Callable[[], Any]) -> Any:
    try:
        return entries[key]
    except KeyError:
        value = entries[key] = load()
        return value
