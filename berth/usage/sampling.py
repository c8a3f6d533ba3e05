"""The daily storage sample: per repository, the bytes of the objects it links (each stored
object once within the repository, as GetStorageUsage counts it), written as the day's row.
Taking the day's sample again replaces it, so a retried or repeated job changes nothing but
the figures' freshness."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ..storage.metadata import usage as usage_rows
from ..storage.metadata import usage_daily
from ..storage.metadata.database import Database

STANDARD = "standard"  # the only storage class until lifecycle policies archive images


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).date().isoformat()


def sample_storage(db: Database, now: float | None = None) -> int:
    """Record today's (UTC) storage per repository; returns the number of repositories."""
    now = time.time() if now is None else now
    day = utc_day(now)
    with db.read() as tx:
        found = usage_rows.by_repository(tx)
    rows = [{"day": day, "account_id": row.account_id, "region": row.region,
             "repository": row.name, "storage_class": STANDARD, "bytes": int(row.bytes),
             "objects": int(row.objects), "sampled_at": now} for row in found]
    with db.write() as tx:
        usage_daily.put_samples(tx, rows)
    return len(rows)
