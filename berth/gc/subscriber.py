"""Garbage collection's subscriber to domain events: what a deletion left unreferenced starts
its grace period at the moment of the deletion, so the next sweep after that period frees it
(a sweep would notice on its own, but only from the time it runs)."""
from __future__ import annotations

from ..events import BLOB_UNLINKED, IMAGE_DELETED, REPOSITORY_DELETED, Event, Subscriber
from ..storage.metadata import garbage as rows
from ..storage.metadata.database import Tx

NAME = "gc"


def handle(tx: Tx, events: list[Event]) -> None:
    for event in events:
        if event.kind == IMAGE_DELETED:
            for digest in event.payload.get("blobs", ()):
                rows.mark_link(tx, event.payload["repositoryId"], digest, event.created_at)
        elif event.kind == BLOB_UNLINKED:
            key_ref = rows.key_ref_of(tx, event.payload["repositoryId"])
            if key_ref is not None:
                rows.release_object(tx, key_ref, event.payload["digest"], event.created_at)
        elif event.kind == REPOSITORY_DELETED:
            rows.release_unlinked(tx, event.payload["keyRef"], event.created_at)


def subscriber() -> Subscriber:
    return Subscriber(NAME, handle, from_start=True)
