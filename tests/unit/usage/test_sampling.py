"""The daily storage sample (berth.usage.sampling), on SQLite and PostgreSQL: one row per
repository, day and storage class, each object once within a repository and class (archive:
the objects only archived images reference), a day's sample taken again replacing it, the
next day's apart; each row keeps the repository's resource tags of the day."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from sqlalchemy import select

from berth.registry.images.service import ImageId
from berth.registry.images.storage_class import ARCHIVE, STANDARD
from berth.registry.references import Digest
from berth.storage.metadata import usage_daily
from berth.storage.metadata.schema import usage_storage_daily as S
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


def _archive(registry, repository: str, tag: str) -> None:
    registry.image_storage.update(repository, ImageId(tag=tag), ARCHIVE)


def test_objects_only_archived_images_reference_are_the_archive_class(world):
    registry = world.registry(world.a_east)
    old_config, new_config, loose = _config("old"), _config("new"), os.urandom(200)
    push_image(registry, "team/app", "old", SHARED, LAYER, config=old_config)
    push_image(registry, "team/app", "new", SHARED, MORE, config=new_config)
    registry.uploads.put_small("team/app", Digest.of(loose), loose)  # linked, in no manifest
    only = push_image(registry, "team/cold", "v1", LAYER, config=_config("cold"))
    _archive(registry, "team/app", "old")
    _archive(registry, "team/cold", "v1")

    assert sample_storage(world.db, now=DAY_ONE) == 2
    # SHARED is in an archived image and an active one: standard, once.
    assert _rows(world) == {
        ("2026-03-31", "team/app", "standard"): len(SHARED) + len(MORE) + len(new_config)
        + len(loose),
        ("2026-03-31", "team/app", "archive"): len(LAYER) + len(old_config),
        ("2026-03-31", "team/cold", "standard"): 0,  # kept, as for an empty repository
        ("2026-03-31", "team/cold", "archive"): only}
    with world.db.read() as tx:
        objects = {(row.repository, row.storage_class): int(row.objects)
                   for row in tx.all(select(S.c.repository, S.c.storage_class, S.c.objects))}
    assert objects == {("team/app", "standard"): 4, ("team/app", "archive"): 2,
                       ("team/cold", "standard"): 0, ("team/cold", "archive"): 2}


def test_archived_objects_of_zero_bytes_still_make_an_archive_row(world):
    registry = world.registry(world.a_east)
    config = _config("app")
    push_image(registry, "team/app", "old", SHARED, b"", config=config)  # b"": its own object
    push_image(registry, "team/app", "new", SHARED, config=config)
    _archive(registry, "team/app", "old")
    sample_storage(world.db, now=DAY_ONE)
    with world.db.read() as tx:
        objects = {(row.repository, row.storage_class): (int(row.objects), int(row.bytes))
                   for row in tx.all(select(S.c.repository, S.c.storage_class, S.c.objects,
                                            S.c.bytes))}
    assert objects[("team/app", "archive")] == (1, 0)


def test_a_restore_the_same_day_drops_the_archive_row_on_the_next_sample(world):
    registry = world.registry(world.a_east)
    size = push_image(registry, "team/app", "v1", SHARED, config=_config("app"))
    _archive(registry, "team/app", "v1")
    sample_storage(world.db, now=DAY_ONE)
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): 0,
                            ("2026-03-31", "team/app", "archive"): size}
    # Restoring (ACTIVATING until the job runs) is on its way back: standard again.
    registry.image_storage.update("team/app", ImageId(tag="v1"), STANDARD)
    sample_storage(world.db, now=DAY_ONE + 60)
    assert _rows(world) == {("2026-03-31", "team/app", "standard"): size}


def test_each_row_keeps_the_repositorys_tags_of_the_day(world):
    registry = world.registry(world.a_east)
    push_image(registry, "team/app", "v1", SHARED, config=_config("app"))
    push_image(registry, "team/lib", "v1", LAYER, config=_config("lib"))
    _archive(registry, "team/lib", "v1")
    registry.resource_tags.tag("team/app", [("team", "payments"), ("env", "prod")])
    sample_storage(world.db, now=DAY_ONE)
    registry.resource_tags.tag("team/app", [("team", "frontend")])
    registry.resource_tags.tag("team/lib", [("team", "data")])
    sample_storage(world.db, now=DAY_TWO)

    with world.db.read() as tx:
        found = {(row.day, row.repository, row.storage_class): json.loads(row.tags)
                 for row in usage_daily.samples(tx, "2026-01-01", "2026-12-31")}
    assert found == {
        ("2026-03-31", "team/app", "standard"): {"team": "payments", "env": "prod"},
        ("2026-03-31", "team/lib", "standard"): {},  # none that day: not "unknown"
        ("2026-03-31", "team/lib", "archive"): {},
        ("2026-04-01", "team/app", "standard"): {"team": "frontend", "env": "prod"},
        ("2026-04-01", "team/lib", "standard"): {"team": "data"},
        ("2026-04-01", "team/lib", "archive"): {"team": "data"}}
