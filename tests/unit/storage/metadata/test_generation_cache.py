import contextlib
import threading
import time

import pytest
from sqlalchemy import text

from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.generation_cache import GenerationCache, cached
from berth.storage.metadata.registries import IAM_GENERATION


def _bump(db) -> None:
    with db.write() as tx:
        registry_rows.bump(tx, IAM_GENERATION)


def _entries(db, cache: GenerationCache) -> dict:
    with db.read() as tx:
        return cache.entries(tx)


def _old_transaction(db):
    """A transaction that keeps seeing what it saw first, on both databases: a SQLite read
    transaction does so by itself once it has read; on PostgreSQL reads run in autocommit,
    so a (not yet writing) transaction at REPEATABLE READ stands in for it."""
    if db.is_sqlite:
        return db.read()
    return _repeatable(db)


@contextlib.contextmanager
def _repeatable(db):
    with db.write() as tx:
        tx.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        yield tx


def test_same_dict_while_the_generation_stands(db):
    cache = GenerationCache()
    first = _entries(db, cache)
    first["k"] = "v"
    assert _entries(db, cache) is first
    assert _entries(db, cache)["k"] == "v"


def test_new_dict_after_a_bump(db):
    cache = GenerationCache()
    old = _entries(db, cache)
    old["k"] = "stale"
    _bump(db)
    new = _entries(db, cache)
    assert new is not old
    assert "k" not in new
    assert _entries(db, cache) is new


def test_every_bump_makes_a_new_dict(db):
    cache = GenerationCache()
    seen = [_entries(db, cache)]
    for _ in range(3):
        _bump(db)
        seen.append(_entries(db, cache))
    assert len({id(d) for d in seen}) == 4


def test_a_bump_from_another_node_is_seen(db):
    """Every node has its own cache; a change made anywhere moves the shared counter."""
    node_a, node_b = GenerationCache(), GenerationCache()
    a, b = _entries(db, node_a), _entries(db, node_b)
    _bump(db)  # as a third node's change does
    assert _entries(db, node_a) is not a
    assert _entries(db, node_b) is not b


def test_transaction_seeing_an_older_generation_gets_a_throwaway_dict(db):
    cache = GenerationCache()
    with _old_transaction(db) as old_tx:
        old_generation = registry_rows.generation(old_tx, IAM_GENERATION)  # snapshot taken
        _bump(db)
        current = _entries(db, cache)  # a newer transaction sets the cache to the new value
        assert registry_rows.generation(old_tx, IAM_GENERATION) == old_generation
        stale = cache.entries(old_tx)
        assert stale is not current
        stale["key"] = "derived from old data"
        assert cache.entries(old_tx) is not stale  # nothing is kept for old generations
    assert _entries(db, cache) is current
    assert "key" not in current


def test_older_transaction_first_then_newer(db):
    """An old transaction that reaches the cache before any newer one fills the old
    generation's dict; the first newer transaction replaces it."""
    cache = GenerationCache()
    with _old_transaction(db) as old_tx:
        registry_rows.generation(old_tx, IAM_GENERATION)
        _bump(db)
        old = cache.entries(old_tx)
        old["key"] = "old"
    new = _entries(db, cache)
    assert new is not old and "key" not in new


def test_concurrent_readers_share_one_dict(db):
    cache = GenerationCache()
    _bump(db)
    barrier, found = threading.Barrier(4), []

    def read():
        barrier.wait(timeout=30)
        found.append(_entries(db, cache))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and all(d is found[0] for d in found)


def test_cached_loads_once():
    entries, calls = {}, []

    def load():
        calls.append(1)
        return None  # a remembered None is a hit too

    assert cached(entries, "k", load) is None
    assert cached(entries, "k", load) is None
    assert len(calls) == 1


def test_cached_does_not_remember_failures():
    entries = {}

    def fail():
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cached(entries, "k", fail)
    assert cached(entries, "k", lambda: 42) == 42


def test_every_committed_bump_moves_the_counter(db):
    for expected in (1, 2, 3):
        _bump(db)
        with db.read() as tx:
            assert registry_rows.generation(tx, IAM_GENERATION) == expected


# SQLite serialises write transactions (BEGIN IMMEDIATE): the race needs PostgreSQL.
@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
def test_racing_first_bumps_both_count(db):
    """Two first-ever bumps of a counter: the second starts while the first is uncommitted;
    both must count."""
    first = contextlib.ExitStack()
    registry_rows.bump(first.enter_context(db.write()), "fresh")  # not committed yet

    def second():
        with db.write() as tx:
            registry_rows.bump(tx, "fresh")

    thread = threading.Thread(target=second)
    thread.start()

    def second_is_waiting() -> bool:
        with db.engine.connect() as conn:
            return bool(conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar())

    deadline = time.monotonic() + 10
    while not second_is_waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    first.close()
    thread.join(timeout=30)
    with db.read() as tx:
        assert registry_rows.generation(tx, "fresh") == 2
