"""Used signatures: each is claimed once, whichever connection (process, node) claims it, and
rows past their expiry are pruned, on SQLite and PostgreSQL."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from berth.storage.metadata import signatures
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import used_signatures

SIG = "ab" * 32


def _claim(db: Database, signature: str = SIG, expires_at: float = 100.0) -> bool:
    with db.write() as tx:
        return signatures.claim(tx, signature, expires_at)


def _left(db: Database) -> list[str]:
    with db.read() as tx:
        return sorted(tx.scalars(select(used_signatures.c.signature)))


def test_a_signature_is_claimed_once(db):
    assert _claim(db) is True
    assert _claim(db) is False
    assert _claim(db, "cd" * 32) is True


def test_another_connection_sees_the_claim(db):
    # A second Database on the same URL stands for another process or node.
    other = Database(db.url)
    try:
        assert _claim(db) is True
        assert _claim(other) is False
    finally:
        other.dispose()


def test_concurrent_claims_of_one_signature_let_one_through(db):
    others = [Database(db.url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(others)) as pool:
            won = list(pool.map(_claim, others))
        assert won.count(True) == 1
    finally:
        for other in others:
            other.dispose()


def test_a_claim_rolled_back_is_no_claim(db):
    try:
        with db.write() as tx:
            assert signatures.claim(tx, SIG, 100.0)
            raise RuntimeError("the transaction fails")
    except RuntimeError:
        pass
    assert _claim(db) is True


def test_prune_removes_only_expired_rows(db):
    for i, expires_at in enumerate((10.0, 20.0, 30.0)):
        assert _claim(db, f"{i:064x}", expires_at)
    with db.write() as tx:
        assert signatures.prune(tx, 20.0) == 1
    assert _left(db) == [f"{1:064x}", f"{2:064x}"]
    with db.write() as tx:
        assert signatures.prune(tx, 30.5) == 2
    assert _left(db) == []
