"""Domain events: every change of the registry appends an event to the outbox in the
transaction that makes it (``emit``); subscribers (garbage collection first; scanning,
replication, lifecycle, audit and notifications later) read them in commit order, each at
its own position, at least once (``Outbox``)."""
from .model import (
                    BLOB_MOUNTED,
                    BLOB_UNLINKED,
                    IMAGE_DELETED,
                    IMAGE_PUSHED,
                    IMAGE_REPLICATED,
                    IMAGE_SCANNED,
                    LIFECYCLE_ACTED,
                    PULLTHROUGH_SYNCED,
                    REPOSITORY_CREATED,
                    REPOSITORY_DELETED,
                    TAG_REMOVED,
                    UPLOAD_COMPLETED,
                    Event,
                    emit,
)
from .outbox import Outbox, Subscriber

__all__ = ["BLOB_MOUNTED", "BLOB_UNLINKED", "IMAGE_DELETED", "IMAGE_PUSHED",
           "IMAGE_REPLICATED", "IMAGE_SCANNED", "LIFECYCLE_ACTED", "PULLTHROUGH_SYNCED",
           "REPOSITORY_CREATED", "REPOSITORY_DELETED", "TAG_REMOVED", "UPLOAD_COMPLETED",
           "Event", "Outbox", "Subscriber", "emit"]
