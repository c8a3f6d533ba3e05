"""The daily storage sample: per repository, the bytes of the objects it links (each stored
object once within the repository, as GetStorageUsage counts it), written as the day's rows,
one per storage class: "archive" for the objects that only archived images reference (written
when there are any), "standard" for all the others (written always, 0 bytes included). Each
row keeps the repository's resource tags of the day, the cost allocation tags reports group
that day by. Taking the day's sample again replaces it, so a retried or repeated job changes
nothing but the figures' freshness."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from ..storage.metadata import usage as usage_rows
from ..storage.metadata import usage_daily
from ..storage.metadata.database import Database

STANDARD = "standard"
ARCHIVE = "archive"  # lifecycle's (and UpdateImageStorageClass's) archived images


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).date().isoformat()


Sizes = dict[tuple[str, str, str], dict[str, list[int]]]  # repository -> class -> objects, bytes


def sample_storage(db: Database, now: float | None = None) -> int:
    """Record today's (UTC) storage per repository; returns the number of repositories."""
    now = time.time() if now is None else now
    day = utc_day(now)
    with db.read() as tx:
        sizes = _sizes(usage_rows.by_repository_archived(tx))
        tags = usage_daily.all_tags(tx)
    rows, gone = [], []
    for (account, region, name), classes in sizes.items():
        key = {"day": day, "account_id": account, "region": region, "repository": name}
        if classes[ARCHIVE][0] == 0:  # a row of an earlier sample today goes (restored since)
            gone.append({**key, "storage_class": ARCHIVE})
            del classes[ARCHIVE]
        text = _tags_text(tags.get((account, region, name)))
        rows += [{**key, "storage_class": storage_class, "bytes": size, "objects": objects,
                  "sampled_at": now, "tags": text}
                 for storage_class, (objects, size) in classes.items()]
    with db.write() as tx:
        usage_daily.drop_samples(tx, gone)
        usage_daily.put_samples(tx, rows)
    return len(sizes)


def _sizes(found: list) -> Sizes:
    sizes: Sizes = {}
    for row in found:
        classes = sizes.setdefault((row.account_id, row.region, row.name),
                                   {STANDARD: [0, 0], ARCHIVE: [0, 0]})
        entry = classes[ARCHIVE if row.archived else STANDARD]
        entry[0] += int(row.objects)
        entry[1] += int(row.bytes)
    return sizes


def _tags_text(tags: dict[str, str] | None) -> str:
    # "{}" rather than NULL for no tags: NULL means "sampled before tags were kept".
    return json.dumps(tags or {}, sort_keys=True, separators=(",", ":"))
