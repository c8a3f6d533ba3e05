"""Garbage collection's subscriber to domain events: a stored object a deletion left without
links starts its grace period at the moment of the deletion, so the next sweep after that
period frees it (a sweep would notice on its own, but only from the time it runs). A deleted
image's links start theirs in the deletion's own transaction."""
from __future__ import annotations

from ..events import BLOB_UNLINKED, REPOSITORY_DELETED, Event, Subscriber
from ..storage.metadata import garbage as rows
from ..storage.metadata.database import Tx

NAME = "gc"


def handle(tx: Tx, events: list[Event]) -> None:
    released = []
    for event in events:
        if event.kind == BLOB_UNLINKED:
            key_ref = rows.key_ref_of(tx, event.payload["repositoryId"])
            if key_ref is not None:
                released.append((key_ref, event.payload["digest"], event.created_at))
        elif event.kind == REPOSITORY_DELETED:
            rows.release_unlinked(tx, event.payload["keyRef"], event.created_at)
    for key_ref, digest, since in sorted(released):  # rows in key order, as sweeps take them
        rows.release_object(tx, key_ref, digest, since)


def subscriber() -> Subscriber:
    return Subscriber(NAME, handle, from_start=True)
