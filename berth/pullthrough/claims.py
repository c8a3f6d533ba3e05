"""One fetch per blob across the deployment: a fetch holds a claim row (renewed as its bytes
arrive); who misses the same blob meanwhile, on any node, waits for it to be stored, and
takes the claim over if it lapses (its holder died)."""
from __future__ import annotations

import asyncio
import time

from ..concurrency import blocking
from ..registry.blobs.service import StoredBlob
from ..registry.errors import BlobUnknown, NameUnknown
from ..registry.references import Digest
from ..registry.registry import Registry
from ..storage.metadata import pullthrough as rows

CLAIM_SECONDS = 60.0  # a holder that stops renewing for this long is taken over
RENEW_SECONDS = 10.0
POLL_SECONDS = 0.2


class Claim:
    """A claim held on one blob's fetch."""

    def __init__(self, reg: Registry, repository: str, digest: Digest):
        self.db, self.key = reg.db, (reg.registry_id, repository, str(digest))
        self.renewed = time.monotonic()

    def take(self) -> bool:
        now = time.time()
        with self.db.write(durable=False) as tx:
            return rows.claim_fetch(tx, *self.key, now, now + CLAIM_SECONDS)

    def renew_due(self) -> bool:
        return time.monotonic() - self.renewed > RENEW_SECONDS

    def renew(self) -> None:
        self.renewed = time.monotonic()
        with self.db.write(durable=False) as tx:
            rows.renew_fetch(tx, *self.key, time.time() + CLAIM_SECONDS)

    def release(self) -> None:
        with self.db.write(durable=False) as tx:
            rows.release_fetch(tx, *self.key)

    def held_elsewhere(self) -> bool:
        with self.db.read() as tx:
            return rows.fetch_claimed(tx, *self.key, time.time())


def stored(reg: Registry, repository: str, digest: Digest) -> StoredBlob | None:
    try:
        return reg.blobs.find(repository, digest)
    except (BlobUnknown, NameUnknown):
        return None


async def stored_by_holder(reg: Registry, repository: str, digest: Digest,
                           claim: Claim) -> StoredBlob | None:
    """The blob once its holder has stored it; None if the claim lapses first."""
    while True:
        found = await blocking(stored, reg, repository, digest)
        if found is not None or not await blocking(claim.held_elsewhere):
            return found if found is not None else await blocking(
                stored, reg, repository, digest)
        await asyncio.sleep(POLL_SECONDS)


def wait_for_holder(reg: Registry, repository: str, digest: Digest,
                    claim: Claim) -> StoredBlob | None:
    """As ``stored_by_holder``, for a job's thread."""
    while True:
        found = stored(reg, repository, digest)
        if found is not None or not claim.held_elsewhere():
            return found if found is not None else stored(reg, repository, digest)
        time.sleep(POLL_SECONDS)
