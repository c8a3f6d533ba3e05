"""Replication state for tests that need a backfill still in progress whatever the node's jobs
do meanwhile: one task of it held by a worker that is not there, for an hour."""
from __future__ import annotations

import time
import uuid

from berth.storage.metadata import replication as rows
from berth.storage.metadata.database import Database
from tests.support.oci_push import digest_of


def held_backfill(db: Database, registry_id: int, region: str, account: str,
                  repository: str) -> str:
    """The id of an IN_PROGRESS backfill to ``(region, account)`` that stays so."""
    backfill_id, now = str(uuid.uuid4()), time.time()
    with db.write() as tx:
        rows.add_backfill(tx, backfill_id, registry_id, region, account, now)
        rows.set_backfill(tx, backfill_id, rows.IN_PROGRESS)
        rows.add(tx, [{"registry_id": registry_id, "repository": repository,
                       "digest": digest_of(b"held"), "tag": None, "dest_region": region,
                       "dest_account": account, "created_at": now, "updated_at": now,
                       "backfill_id": backfill_id}])
        tx.execute(rows.replication_tasks.update().where(
            rows.R.backfill_id == backfill_id).values(claimed_by="elsewhere",
                                                      claimed_until=now + 3600))
    return backfill_id
