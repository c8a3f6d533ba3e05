"""Each signed request that changes state is accepted once.

SigV4 alone lets a captured request be sent again until its signature expires (5 minutes).
For calls that change state, the signature is recorded in the metadata database when the
request is accepted, on whichever node, and a second arrival is refused until the record
expires. Reads (Describe*, List*, Get*, BatchGet*, BatchCheck*) are not recorded: a replay
only returns what the key may read anyway, and reads should not cost a write.

A second arrival is not always an attacker's: botocore (boto3, the aws CLI) signs every
attempt anew but signs neither ``amz-sdk-invocation-id`` nor ``amz-sdk-request``, so a retry,
or a second identical call, within the same second of X-Amz-Date is byte for byte the first.
The refusal is therefore ``ThrottlingException``, which the SDKs retry after a backoff,
signed at a later time: a client that holds the key gets through, one replaying a capture
never does.
"""
from __future__ import annotations

import threading
import time
from weakref import WeakKeyDictionary

from ..storage.metadata import signatures as rows
from ..storage.metadata.database import Database
from .sigv4 import SigV4Error, VerifiedRequest

READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "BatchCheck")
# Nodes' clocks differ: a row outlives its signature by this much, so a node whose clock is
# behind (and so still accepts the signature) still finds it.
CLOCK_MARGIN_SECONDS = 300.0
PRUNE_EVERY_SECONDS = 60.0


class ReplayedSignature(SigV4Error):
    """The signature of a state-changing request that was accepted before."""
    code = "ThrottlingException"
    default_message = ("Rate exceeded: this signed request was received before. A request "
                       "that changes state is accepted once; sign it again to repeat it.")


def changes_state(target: str | None) -> bool:
    """Whether the operation an ``X-Amz-Target`` header names may change state."""
    operation = (target or "").partition(".")[2]
    return not operation.startswith(READ_PREFIXES)


class SignatureLedger:
    """The record of used signatures (blocking: one write transaction per claim)."""

    def __init__(self, db: Database, clock=time.time):
        self.db = db
        self.clock = clock
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def claim(self, verified: VerifiedRequest) -> None:
        """Accept the request's signature once; raises ReplayedSignature after that."""
        now = self.clock()
        # Not durable: a row survives a process crash, not a power cut, which a replay
        # would have to follow within the signature's minutes.
        with self.db.write(durable=False) as tx:
            if self._prune_due(now):
                rows.prune(tx, now)
            fresh = rows.claim(tx, verified.signature,
                               verified.valid_until.timestamp() + CLOCK_MARGIN_SECONDS)
        if not fresh:
            raise ReplayedSignature()

    def _prune_due(self, now: float) -> bool:
        # At most once a minute per process: pruning is the same work on every claim.
        with self._lock:
            if now < self._next_prune:
                return False
            self._next_prune = now + PRUNE_EVERY_SECONDS
            return True


_LEDGERS: WeakKeyDictionary[Database, SignatureLedger] = WeakKeyDictionary()
_LEDGERS_LOCK = threading.Lock()


def ledger(db: Database) -> SignatureLedger:
    """The ledger over ``db``: one per database in a process, which keeps its prune time."""
    with _LEDGERS_LOCK:
        found = _LEDGERS.get(db)
        if found is None:
            found = _LEDGERS[db] = SignatureLedger(db)
        return found
