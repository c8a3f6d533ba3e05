"""Rates for the deployment, not per node: once a second, one process of each node (the
first to claim it; another takes over if it dies) writes what the node's buckets admitted
since its last sync, per bucket key, and takes what the other nodes wrote since from its own
buckets. With every node's buckets refilled at the rate and debited by the others' takes,
the deployment admits the rate, give or take a second's worth per node (what was admitted
before a sync told the others). A SQLite deployment is one node: it reads nothing of others
and writes only while rate-limited principals are active.

Runs as a Flushable of observability.flusher.Flusher (a thread, failures logged once per
outage): an outage only makes each node admit the rate by itself meanwhile."""
from __future__ import annotations

import time
from typing import Callable

from ..storage.metadata import rate_takes as rows
from ..storage.metadata.database import Database
from .buckets import Buckets

SYNC_SECONDS = 1.0
RETAIN_SECONDS = 60.0  # rows older than this are pruned (by any node)
# How far back a sync reads others' rows: rows commit a little after their ``at`` (their
# writer's clock, and clocks differ a little); a row is applied once (by its node's seq).
LOOKBACK_SECONDS = 5.0
PRUNE_EVERY = 30  # syncs


def _signed(digest: int) -> int:
    return digest - (1 << 64) if digest >= 1 << 63 else digest


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


class RateSharing:
    def __init__(self, buckets: Buckets, clock: Callable[[], float] = time.time):
        self.buckets, self.clock = buckets, clock
        self.seq = int(clock() * 1000)  # a node id's seqs count up, even across takeovers
        self.applied: dict[str, int] = {}  # node -> its last seq taken from the buckets
        self.unsent: dict[int, int] = {}  # drained, not written yet (a failed sync's)
        self.syncs = 0
        self.syncer = False

    def flush(self, db: Database) -> int:
        """One sync, if this process is its node's syncer: the node's takes written, the
        others' applied. Returns the keys written and applied."""
        if not self.syncer and not self.buckets.claim_syncer():
            return 0
        self.syncer = True
        now = self.clock()
        for key, count in self.buckets.drain().items():
            self.unsent[key] = self.unsent.get(key, 0) + count
        with db.write(durable=False) as tx:
            if self.unsent:
                self.seq += 1
                rows.add(tx, self.buckets.node_id, self.seq, now,
                         [(_signed(k), n) for k, n in self.unsent.items()])
            others = rows.others(tx, self.buckets.node_id, now - LOOKBACK_SECONDS)
            self.syncs += 1
            if self.syncs % PRUNE_EVERY == 0:
                rows.prune(tx, now - RETAIN_SECONDS)
        sent, self.unsent = len(self.unsent), {}
        return sent + self._apply(others)

    def _apply(self, others: list) -> int:
        """Debit the rows not applied yet; remember each writing node's newest seq (a node
        with no row left in the look-back is forgotten: its next rows are all new)."""
        debits: dict[int, int] = {}
        newest: dict[str, int] = {}
        for node, seq, digest, count in others:
            applied = self.applied.get(node, 0)
            if seq > applied:
                key = _unsigned(digest)
                debits[key] = debits.get(key, 0) + count
            newest[node] = max(newest.get(node, applied), seq)
        self.applied = newest
        if debits:
            self.buckets.debit(debits)
        return len(debits)
