"""Statements that take a list (of digests, tag names, keys, job kinds) have one shape
whatever the list's length, on SQLite and on PostgreSQL: the compiled statements a process
keeps, and its memory, do not grow with the lengths clients choose (issue 20, item 3: a
statement per list length, each compiled and kept, grew a worker by gigabytes)."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time

from berth.storage.metadata import (
    blobs,
    garbage,
    images,
    jobs,
    manifests,
    repositories,
    resource_tags,
    tags,
)


def _digest(i: int) -> str:
    return f"sha256:{i:064x}"


def _rss_mib() -> float:
    """This process's resident memory, after freed memory went back to the system (memory
    an earlier test freed would otherwise absorb what this one allocates)."""
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _seed(db) -> int:
    """A repository with links, objects, manifests and tags for digests 0..9 (even ones
    tagged), and three resource tags."""
    with db.write() as tx:
        repo = repositories.ensure(tx, 1, "team/app")
        for i in range(10):
            blobs.pin(tx, "", _digest(i), i)
            blobs.link(tx, repo, _digest(i), i)
            manifests.insert_new(tx, {
                "repository_id": repo, "digest": _digest(100 + i), "media_type": "m",
                "artifact_type": None, "subject_digest": None, "config_digest": None,
                "config_media_type": None, "size": 1, "total_size": i, "annotations": None,
                "content": b"{}", "pushed_at": 1.0}, [])
            if i % 2 == 0:
                tags.put(tx, repo, f"t{i}", _digest(100 + i))
        resource_tags.put(tx, repo, {"a": "1", 'q"uote': "2", "back\\slash": "3", "é": "4"})
    return repo


def _every_list_statement(db, repo: int, n: int) -> None:
    """Each statement that takes a list, once, with a list of ``n`` values."""
    digests = [_digest(i) for i in range(n)]
    children = [_digest(100 + i) for i in range(n)]
    with db.write() as tx:
        blobs.hold_links(tx, repo, digests)
        blobs.sizes_in_repository(tx, repo, digests)
        blobs.mark_unlisted(tx, repo, digests)
        manifests.sizes(tx, repo, children, hold=True)
        manifests.sizes(tx, repo, children)
        tags.digests_for(tx, repo, [f"t{i}" for i in range(n)])
        tags.names_for(tx, repo, children)
        images.details(tx, repo, children)
        images.contents(tx, repo, children)
        garbage.known(tx, [("", d) for d in digests])
        resource_tags.remove(tx, repo, [f"absent-{i}" for i in range(n)])
        jobs.claimable(tx, [f"kind-{i}" for i in range(n)], time.time())
        jobs.claim(tx, "w", [f"kind-{i}" for i in range(n)], time.time(), 10, 5)


def test_lists_of_any_length_find_what_they_name(db):
    repo = _seed(db)
    with db.write() as tx:
        for n in (0, 1, 2, 3, 10, 11, 5000):
            digests = [_digest(i) for i in range(n)]
            expected = {d: int(d[-1], 16) for d in digests[:10]}
            assert blobs.hold_links(tx, repo, digests) == expected
            assert blobs.sizes_in_repository(tx, repo, digests) == expected
            children = [_digest(100 + i) for i in range(n)]
            found = manifests.sizes(tx, repo, children, hold=True)
            assert found == {_digest(100 + i): (1, i) for i in range(min(n, 10))}
            assert {r.digest for r in images.details(tx, repo, children)} == set(found)
            assert set(images.contents(tx, repo, children)) == set(found)
            assert tags.names_for(tx, repo, children) == {
                _digest(100 + i): [f"t{i}"] for i in range(0, min(n, 10), 2)}
            assert tags.digests_for(tx, repo, [f"t{i}" for i in range(n)]) == {
                f"t{i}": _digest(100 + i) for i in range(0, min(n, 10), 2)}
            assert garbage.known(tx, [("", d) for d in digests]) == {
                ("", d) for d in digests[:10]}
        # Duplicates name a row once; values that JSON escapes arrive intact.
        assert blobs.hold_links(tx, repo, [_digest(3)] * 3) == {_digest(3): 3}
        resource_tags.remove(tx, repo, ['q"uote', "back\\slash", "é", "absent"])
        assert resource_tags.all_tags(tx, repo) == {"a": "1"}
        # Only links no manifest lists start their wait.
        blobs.mark_unlisted(tx, repo, [_digest(1), _digest(2)])
        assert {row.digest for row in garbage.links_page(tx, None, 100, waiting=True)} >= {
            _digest(1), _digest(2)}


def test_compiled_statements_do_not_grow_with_list_lengths(db):
    repo = _seed(db)
    _every_list_statement(db, repo, 1)
    kept = len(db._compiled)
    for n in [*range(2, 200), 1000, 4000, 10000]:
        _every_list_statement(db, repo, n)
    assert len(db._compiled) == kept, "a statement per list length"


def test_memory_stays_flat_over_many_list_lengths(db):
    """What the issue measured: a digest list of a new length per push of a manifest listing
    missing layers (hold_links), and of an index listing missing manifests (sizes)."""
    repo = _seed(db)

    def push_attempts(lengths) -> None:
        for n in lengths:
            digests = [f"sha256:{n:032x}{i:032x}" for i in range(n)]
            with db.write() as tx:
                blobs.hold_links(tx, repo, digests)
                manifests.sizes(tx, repo, digests, hold=True)

    push_attempts(range(600, 650))  # warm up: pools, allocator arenas, statements
    before = _rss_mib()
    push_attempts(range(650, 1050))
    grown = _rss_mib() - before
    # A statement per length kept ~0.4 KiB per value per length: some 250 MiB here.
    assert grown < 10, f"RSS grew {grown:.0f} MiB over 400 list lengths"
