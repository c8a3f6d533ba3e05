"""A backfill's per-image results filtered by status are filtered by the query, so a page is
full and the next one starts after it, however the statuses interleave."""
from __future__ import annotations

from berth.storage.metadata import replication as rows
from tests.unit.replication.test_prune import NOW, _task, world  # noqa: F401 (a fixture)


def test_a_status_filter_pages_over_the_matching_results_only(world):  # noqa: F811
    reg, held = world
    db = reg.db
    with db.write() as tx:
        rows.add_backfill(tx, "b", 1, "eu-west-1", "123456789012", NOW)
    for status in (rows.COMPLETE, rows.COMPLETE, rows.FAILED, rows.COMPLETE, rows.FAILED):
        _task(db, held, status, backfill="b")
    with db.read() as tx:
        first = rows.backfill_results(tx, "b", 0, 1, rows.FAILED)
        second = rows.backfill_results(tx, "b", first[0].id, 1, rows.FAILED)
        third = rows.backfill_results(tx, "b", second[0].id, 1, rows.FAILED)
        every = rows.backfill_results(tx, "b", 0, 10)
    assert [r.status for r in first + second] == [rows.FAILED, rows.FAILED]
    assert first[0].id < second[0].id and third == []
    assert [r.status for r in every] == [rows.COMPLETE, rows.COMPLETE, rows.FAILED,
                                         rows.COMPLETE, rows.FAILED]
