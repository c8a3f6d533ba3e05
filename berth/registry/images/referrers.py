"""Referrers go with their subject: once an image is deleted, by whichever door, the
signatures, SBOMs and attestations that name it are deleted after it (ECR's lifecycle cleans
them up within 24 hours; Berth at the outbox's next delivery), each with what goes with it.
A subject pushed again meanwhile keeps its referrers, a tagged or index-listed referrer is
kept, and a referrer pushed before its subject ever existed is never touched (only deletions
start this)."""
from __future__ import annotations

from ...events import IMAGE_DELETED, Event, Subscriber
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import tags
from ...storage.metadata.database import Tx
from .deletion import delete_tree

NAME = "referrers"


def subscriber() -> Subscriber:
    return Subscriber(NAME, handle, from_start=True)  # orphans of earlier deletions too


def handle(tx: Tx, events: list[Event]) -> None:
    for event in events:
        if event.kind == IMAGE_DELETED:
            _orphans(tx, event)


def _orphans(tx: Tx, event: Event) -> None:
    repo_id, subject = event.payload["repositoryId"], event.payload["digest"]
    if manifest_rows.get(tx, repo_id, subject) is not None:
        return  # pushed again since
    for referrer in manifest_rows.referrers(tx, repo_id, subject, None):
        # Deleted since, listed by an index or tagged (someone keeps it): left as it is.
        if (manifest_rows.get(tx, repo_id, referrer.digest) is not None
                and manifest_rows.parent_of(tx, repo_id, referrer.digest) is None
                and tags.count_for(tx, repo_id, referrer.digest) == 0):
            delete_tree(tx, event.registry_id, repo_id, event.repository, referrer.digest)
