"""Upload expiry: sessions idle longer than the TTL are aborted, and so are uploads the
storage holds that no session row names (a monolithic upload whose process died midway)."""
from __future__ import annotations

import json
import time

from ...storage.blobs import BlobDriver
from ...storage.metadata import uploads
from ...storage.metadata.database import Database
from .hashers import HasherCache


def expire_uploads(db: Database, driver: BlobDriver, hashers: HasherCache, ttl_seconds: float,
                   now: float | None = None) -> int:
    """How many uploads were aborted (at most 1000 sessions a call, and every untracked
    upload older than the TTL)."""
    cutoff = (now or time.time()) - ttl_seconds
    with db.write() as tx:
        rows = uploads.stale(tx, cutoff, limit=1000)
        for row in rows:
            uploads.remove(tx, row.id)
    for row in rows:
        hashers.discard(row.id)
        driver.upload_abort(row.id, json.loads(row.driver_state))
    untracked = []
    for upload_id in driver.upload_ids_older_than(cutoff):
        with db.read() as tx:
            if uploads.get(tx, upload_id) is None:
                untracked.append(upload_id)
    for upload_id in untracked:
        driver.upload_abort(upload_id, {})
    return len(untracked) + len(rows)
