"""Rates shared by a deployment's nodes (berth/quotas/sharing.py): each node's syncer writes
what its buckets admitted and takes what the others admitted from its own, so two nodes admit
the rate between them, not twice it; a row is applied once; a failed sync keeps its counts;
one process per node syncs, and another takes over when it dies. SQLite and PostgreSQL."""
from __future__ import annotations

import os

import pytest

from berth.quotas.buckets import Buckets, key_hash
from berth.quotas.sharing import LOOKBACK_SECONDS, RateSharing
from berth.storage.metadata import rate_takes as rows
from berth.storage.metadata.database import Database

RATE = CAPACITY = 10.0


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Node:
    def __init__(self, clock: Clock):
        self.buckets = Buckets(64)
        self.sharing = RateSharing(self.buckets, clock)
        self.clock = clock

    def admitted(self, key: str, tries: int) -> int:
        return sum(self.buckets.take(key, RATE, CAPACITY, self.clock()) is None
                   for _ in range(tries))


def _run(nodes: list[Node], db, clock: Clock, seconds: int, share: bool) -> int:
    """Every node tries 20 takes each 0.1 s (twice the rate), syncing once a second."""
    total = 0
    for step in range(seconds * 10):
        clock.now += 0.1
        total += sum(node.admitted("principal", 20) for node in nodes)
        if share and step % 10 == 9:
            for node in nodes:
                node.sharing.flush(db)
    return total


@pytest.mark.parametrize("share", [True, False])
def test_two_nodes_admit_the_rate_between_them(db, share):
    clock = Clock()
    nodes = [Node(clock), Node(clock)]
    total = _run(nodes, db, clock, 20, share)
    if share:
        # The rate over 20 s (200) plus each node's first bucket and a second's lag at most.
        assert 200 <= total <= 200 + 2 * CAPACITY + 2 * RATE
    else:
        assert 2 * 200 <= total <= 2 * (200 + CAPACITY)  # what sharing prevents: twice it


def test_a_row_is_applied_once_and_a_node_is_forgotten_after_the_look_back(db):
    clock = Clock()
    a, b = Node(clock), Node(clock)
    assert b.admitted("k", 5) == 5
    assert a.admitted("k", 3) == 3
    assert a.sharing.flush(db) == 1  # wrote its one key
    assert b.sharing.flush(db) == 2  # wrote its key, took a's
    assert b.admitted("k", 10) == 2  # 10 - 5 - 3
    assert b.sharing.flush(db) == 1  # its own two written; a's row, read again, not applied
    clock.now += 0.15
    assert b.admitted("k", 2) == 1  # 0.15 s of refill: no debt taken twice
    clock.now += LOOKBACK_SECONDS + 1
    assert b.sharing.flush(db) == 1 and b.sharing.applied == {}  # its own take, written


def test_a_debt_is_at_most_one_bucket(db):
    clock = Clock()
    a, b, c = Node(clock), Node(clock), Node(clock)
    assert b.admitted("k", 1) == 1  # 9 left
    for other in (a, c):
        assert other.admitted("k", 10) == 10
        other.sharing.flush(db)
    b.sharing.flush(db)  # 9 - 20: floored at -10
    assert b.buckets.take("k", RATE, CAPACITY, clock()) == pytest.approx((1 + CAPACITY) / RATE)
    clock.now += 1.15
    assert b.admitted("k", 2) == 1


def test_a_failed_sync_keeps_its_counts_for_the_next(db, tmp_path):
    clock = Clock()
    a, b = Node(clock), Node(clock)
    b.admitted("k", 1)
    a.admitted("k", 4)
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no table: the write fails
    try:
        with pytest.raises(Exception):
            a.sharing.flush(empty)
    finally:
        empty.dispose()
    a.admitted("k", 2)
    a.sharing.flush(db)
    with db.read() as tx:
        written = rows.others(tx, b.buckets.node_id, clock() - 10)
    assert [(r.node, r.taken) for r in written] == [(a.buckets.node_id, 6)]
    assert [r.key_hash for r in written] == [_signed(key_hash("k"))]


def test_old_rows_are_pruned(db):
    clock = Clock()
    a = Node(clock)
    a.admitted("k", 1)
    a.sharing.flush(db)
    clock.now += 3600
    for _ in range(30):  # a prune every thirty syncs
        a.sharing.flush(db)
    with db.read() as tx:
        assert rows.others(tx, "someone else", 0.0) == []


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def test_one_process_of_a_node_syncs_until_it_dies():
    buckets = Buckets(64)
    ready, release = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0 if buckets.claim_syncer() else 1
        os.write(ready[1], b"x")
        os.read(release[0], 1)
        os._exit(code)
    os.read(ready[0], 1)
    try:
        assert buckets.claim_syncer() is False  # the other worker holds it
    finally:
        os.write(release[1], b"x")
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert buckets.claim_syncer() is True  # freed when it exited
