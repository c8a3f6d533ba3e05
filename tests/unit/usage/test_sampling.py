"""The daily storage sample (berth.usage.sampling), on SQLite and PostgreSQL: one row per
repository and day, each object once within a repository, a day's sample taken again
replacing it, the next day's apart."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from berth.storage.metadata import usage_daily
from berth.usage.sampling import sample_storage, utc_day
from tests.unit.registry.test_usage import SHARED, _config, push_image

LAYER = os.urandom(700)
MORE = os.urandom(1300)
DAY_ONE = datetime(2026, 3, 31, 23, 0, tzinfo=timezone.utc).timestamp()
DAY_TWO = DAY_ONE + 2 * 3600  # 01:00 on April 1st, UTC


def _rows(world, first="2026-01-01", last="2026-12-31"):
    with world.db.read() as tx:
        return {(row.day, row.repository, row.storage_class): int(row.bytes)
                for row in usage_daily.samples(tx, first, last)}


def test_days_are_utc_dates():
    assert (utc_day(DAY_ONE), utc_day(DAY_TWO)) == ("2026-03-31", "2026-04-01")


def test_a_sample_counts_each_object_once_per_repository(world):
    registry = world.registry(world.a_east)
    config = _config("app")
    app = push_image(registry, "team/app", "v1", SHARED, LAYER, config=config)
    push_image(registry, "team/app", "v2", SHARED, config=config)  # nothing new linked
    lib = push_image(registry, "team/lib", "v1", SHARED, config=_config("lib"))

    assert sample_storage(world.db, now=DAY_ONE) == 2
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): app,
                            ("2026-03-31", "team/lib", "standard"): lib}


def test_sampling_again_the_same_day_replaces_and_the_next_day_adds(world):
    registry = world.registry(world.a_east)
    first = push_image(registry, "team/app", "v1", SHARED, config=_config("app"))
    sample_storage(world.db, now=DAY_ONE)
    sample_storage(world.db, now=DAY_ONE)  # a retried job: the same row
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): first}

    grown = first + push_image(registry, "team/app", "v2", MORE, config=_config("v2"))
    sample_storage(world.db, now=DAY_ONE + 60)
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): grown}

    sample_storage(world.db, now=DAY_TWO)
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): grown,
                            ("2026-04-01", "team/app", "standard"): grown}
    assert _rows(world, "2026-04-01", "2026-04-01") == {
        ("2026-04-01", "team/app", "standard"): grown}


def test_accounts_and_regions_are_sampled_apart(world):
    config = _config("x")
    east = push_image(world.registry(world.a_east), "team/app", "v1", SHARED, config=config)
    west = push_image(world.registry(world.a_west), "team/app", "v1", SHARED, LAYER,
                      config=config)
    sample_storage(world.db, now=DAY_ONE)
    with world.db.read() as tx:
        found = {(row.account_id, row.region): int(row.bytes)
                 for row in usage_daily.samples(tx, "2026-03-31", "2026-03-31")}
        mine = usage_daily.samples(tx, "2026-03-31", "2026-03-31", world.team_b)
    assert found == {(world.team_a, "us-east-1"): east, (world.team_a, "eu-west-1"): west}
    assert mine == []
