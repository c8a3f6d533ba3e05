"""The events the registry domain emits, and how a change appends one."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..storage.metadata.database import Tx

# Kinds, with what their payload carries besides the registry and repository name:
REPOSITORY_CREATED = "repository.created"    # repositoryId, keyRef
REPOSITORY_DELETED = "repository.deleted"    # repositoryId, keyRef
UPLOAD_COMPLETED = "upload.completed"        # repositoryId, digest, size
BLOB_MOUNTED = "blob.mounted"                # repositoryId, digest, size, from
BLOB_UNLINKED = "blob.unlinked"              # repositoryId, digest
IMAGE_PUSHED = "image.pushed"                # repositoryId, digest, mediaType, tag, previous,
                                             # artifactType, subject, created, pusher (the
                                             # client's access key id; None: Berth's own)
TAG_REMOVED = "tag.removed"                  # repositoryId, tag, digest
IMAGE_DELETED = "image.deleted"              # repositoryId, digest, tags, blobs
IMAGE_SCANNED = "image.scanned"              # repositoryId, digest, scanType, status, counts
IMAGE_REPLICATED = "image.replicated"        # (on the destination) digest, tag, sourceAccount,
                                             # sourceRegion, result (SUCCESS or FAILED)
PULLTHROUGH_SYNCED = "pullthrough.synced"    # digest, tag, ecrRepositoryPrefix,
                                             # upstreamRegistryUrl, status (SUCCESS or
                                             # FAILED), failureCode, failureReason
LIFECYCLE_ACTED = "lifecycle.acted"          # repositoryId, digest, tags, action (EXPIRE or
                                             # TRANSITION), rulePriority, targetStorageClass


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    registry_id: int
    repository: str | None
    payload: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row) -> "Event":
        return cls(row.id, row.kind, row.registry_id, row.repository, json.loads(row.payload),
                   row.created_at)


def emit(tx: Tx, kind: str, registry_id: int, repository: str | None, **payload: Any) -> None:
    """Append an event that commits (or not) with ``tx``."""
    tx.emit(kind, registry_id, repository, json.dumps(payload, separators=(",", ":")))
