"""Usage reports (berth.usage.report), on SQLite and PostgreSQL, from daily rows written
directly: GB-months as AWS computes them (bytes / 1e9 / days in that day's month, summed over
days), exact across months; archive apart and unpriced; grouping by repository, account and
a resource tag (untagged apart), each day by the tags its sample kept (else the tags now);
cost only where prices are set, transfer inside the networks free."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from berth.storage.metadata import usage_daily
from berth.usage.report import (
    UNTAGGED,
    Pricing,
    UsageReportError,
    gb_months,
    usage_report,
)
from tests.unit.registry.test_usage import _config, push_image

GB = 10 ** 9
EAST = "us-east-1"


def _days(first: date, last: date):
    while first <= last:
        yield first
        first += timedelta(days=1)


def _store(world, account, repository, first, last, size, region=EAST, storage_class="standard",
           tags=None):
    """Samples of these days; ``tags`` (a dict) as the sample kept them, None: as a sample
    from before samples kept tags."""
    rows = [{"day": day.isoformat(), "account_id": account, "region": region,
             "repository": repository, "storage_class": storage_class, "bytes": size,
             "objects": 1, "sampled_at": 0.0,
             **({} if tags is None else {"tags": json.dumps(tags)})}
            for day in _days(first, last)]
    with world.db.write() as tx:
        usage_daily.put_samples(tx, rows)


def _pulled(world, account, repository, day, inside, outside, region=EAST):
    with world.db.write() as tx:
        usage_daily.add_transfers(tx, [{
            "day": day.isoformat(), "account_id": account, "region": region,
            "repository": repository, "bytes_inside": inside, "bytes_outside": outside,
            "updated_at": 0.0}])


def _groups(report) -> dict:
    return {group["Group"]: group for group in report["Groups"]}


def test_a_gb_kept_a_whole_month_is_one_gb_month_whatever_its_length():
    for first, last in ((date(2026, 2, 1), date(2026, 2, 28)), (date(2028, 2, 1),
                        date(2028, 2, 29)), (date(2026, 1, 1), date(2026, 1, 31)),
                        (date(2026, 4, 1), date(2026, 4, 30))):
        assert sum(gb_months(day, GB) for day in _days(first, last)) == 1
    assert gb_months(date(2026, 2, 10), 3 * GB) == Fraction(3, 28)


def test_gb_months_add_up_across_months(world):
    account = world.team_a
    _store(world, account, "team/app", date(2026, 1, 15), date(2026, 3, 1), 2 * GB)
    report = usage_report(world.db, date(2026, 1, 20), date(2026, 3, 31), "repository")
    # Jan 20..31: 12/31 of a month, all of February, Mar 1: 1/31; 2 GB each day.
    expected = 2 * (Fraction(12, 31) + 1 + Fraction(1, 31))
    [group] = report["Groups"]
    assert group["GbMonths"] == pytest.approx(float(expected), abs=1e-12)
    assert group["StorageByteDays"] == 2 * GB * (12 + 28 + 1)
    assert group["Group"] == f"arn:aws:ecr:{EAST}:{account}:repository/team/app"
    assert report["Total"]["GbMonths"] == group["GbMonths"]
    assert "Cost" not in group and "StorageCost" not in report["Total"]


def test_archive_is_apart_from_standard(world):
    _store(world, world.team_a, "team/app", date(2026, 2, 1), date(2026, 2, 28), GB)
    _store(world, world.team_a, "team/app", date(2026, 2, 1), date(2026, 2, 14), 4 * GB,
           storage_class="archive")
    _store(world, world.team_a, "team/lib", date(2026, 2, 1), date(2026, 2, 7), 8 * GB,
           storage_class="archive")
    report = usage_report(world.db, date(2026, 2, 1), date(2026, 2, 28), "repository",
                          pricing=Pricing.parse("0.10", ""))
    app, lib = report["Groups"]
    assert (app["GbMonths"], app["ArchiveGbMonths"]) == (1.0, 2.0)
    assert (app["StorageByteDays"], app["ArchiveStorageByteDays"]) == (28 * GB, 56 * GB)
    assert app["StorageCost"] == pytest.approx(0.10)  # archive has no price yet
    assert (lib["GbMonths"], lib["ArchiveGbMonths"], lib["StorageCost"]) == (0.0, 2.0, 0.0)
    total = report["Total"]
    assert (total["GbMonths"], total["ArchiveGbMonths"]) == (1.0, 4.0)
    assert total["ArchiveStorageByteDays"] == 112 * GB
    assert total["StorageCost"] == pytest.approx(0.10)


def test_group_by_tag_puts_untagged_repositories_in_a_group_of_their_own(world):
    registry = world.registry(world.a_east)
    for name in ("team/app", "team/lib", "team/web", "team/tmp"):
        push_image(registry, name, "v1", name.encode() * 10, config=_config(name))
    registry.resource_tags.tag("team/app", [("team", "payments"), ("env", "prod")])
    registry.resource_tags.tag("team/lib", [("team", "payments")])
    registry.resource_tags.tag("team/web", [("team", "frontend")])
    registry.resource_tags.tag("team/tmp", [("env", "dev")])  # no "team" tag: untagged
    feb = (date(2026, 2, 1), date(2026, 2, 28))
    for name, size in (("team/app", 1), ("team/lib", 2), ("team/web", 4), ("team/tmp", 8),
                       ("team/gone", 16)):  # gone: deleted since, its tags with it
        _store(world, world.team_a, name, *feb, size * GB)
        _pulled(world, world.team_a, name, date(2026, 2, 3), size, 10 * size)

    report = usage_report(world.db, *feb, "tag:team")
    groups = _groups(report)
    assert set(groups) == {"payments", "frontend", UNTAGGED}
    assert groups["payments"]["GbMonths"] == 3.0
    assert groups["payments"]["TagValue"] == "payments"
    assert groups["frontend"]["GbMonths"] == 4.0
    assert groups[UNTAGGED]["GbMonths"] == 24.0
    assert groups[UNTAGGED]["TagValue"] is None and groups[UNTAGGED]["TagKey"] == "team"
    assert groups["payments"]["BytesTransferredInside"] == 3
    assert groups[UNTAGGED]["BytesTransferredOutside"] == 240
    assert report["Total"]["GbMonths"] == 31.0
    assert [g["Group"] for g in report["Groups"]] == sorted(groups)


def _feb(day: int) -> date:
    return date(2026, 2, day)


def test_each_day_is_grouped_by_the_tags_of_that_days_sample(world):
    registry = world.registry(world.a_east)
    push_image(registry, "team/app", "v1", b"app" * 10, config=_config("app"))
    push_image(registry, "team/lib", "v1", b"lib" * 10, config=_config("lib"))
    registry.resource_tags.tag("team/app", [("team", "platform")])  # its tags now
    registry.resource_tags.tag("team/lib", [("team", "data")])
    _store(world, world.team_a, "team/app", _feb(1), _feb(7), GB, tags={"team": "payments"})
    _store(world, world.team_a, "team/app", _feb(8), _feb(14), GB,
           tags={"team": "frontend", "env": "prod"})
    _store(world, world.team_a, "team/app", _feb(8), _feb(14), 2 * GB, storage_class="archive",
           tags={"team": "frontend"})
    _store(world, world.team_a, "team/app", _feb(15), _feb(21), GB, tags={})  # untagged then
    _store(world, world.team_a, "team/app", _feb(22), _feb(28), GB)  # before tags were kept
    _store(world, world.team_a, "team/gone", _feb(1), _feb(28), GB)  # no tags then nor now
    for day, size in ((1, 1), (9, 10), (16, 100), (23, 1000)):
        _pulled(world, world.team_a, "team/app", _feb(day), 0, size)
    _pulled(world, world.team_a, "team/lib", _feb(3), 0, 10_000)  # no sample: its tags now
    _pulled(world, world.team_a, "team/gone", _feb(3), 0, 100_000)

    groups = _groups(usage_report(world.db, _feb(1), _feb(28), "tag:team"))
    week = 7 * GB
    assert {name: (g["StorageByteDays"], g["ArchiveStorageByteDays"],
                   g["BytesTransferredOutside"]) for name, g in groups.items()} == {
        "payments": (week, 0, 1),
        "frontend": (week, 2 * week, 10),
        UNTAGGED: (week + 4 * week, 0, 100 + 100_000),
        "platform": (week, 0, 1000),
        "data": (0, 0, 10_000)}


def test_group_by_account_and_the_account_filter(world):
    feb = (date(2026, 2, 1), date(2026, 2, 28))
    _store(world, world.team_a, "team/app", *feb, GB)
    _store(world, world.team_a, "team/app", *feb, GB, region="eu-west-1")
    _store(world, world.team_b, "team/app", *feb, 5 * GB)
    everyone = _groups(usage_report(world.db, *feb, "account"))
    assert {name: g["GbMonths"] for name, g in everyone.items()} == {
        world.team_a: 2.0, world.team_b: 5.0}
    mine = usage_report(world.db, *feb, "repository", account=world.team_b)
    assert [g["AccountId"] for g in mine["Groups"]] == [world.team_b]


def test_cost_prices_storage_and_transfer_outside_only(world):
    day = date(2026, 4, 10)
    _store(world, world.team_a, "team/app", day, day, 30 * GB)  # 30 GB for 1 of 30 days
    _pulled(world, world.team_a, "team/app", day, 7 * GB, 2 * GB)
    _pulled(world, world.team_a, "team/app", day, 0, GB // 2)  # another flush adds up
    pricing = Pricing.parse("0.10", "0.09")
    [group] = usage_report(world.db, day, day, "repository", pricing=pricing)["Groups"]
    assert group["GbMonths"] == 1.0
    assert (group["GbTransferredInside"], group["GbTransferredOutside"]) == (7.0, 2.5)
    assert group["StorageCost"] == pytest.approx(0.10)
    assert group["TransferCost"] == pytest.approx(0.225)
    assert group["Cost"] == pytest.approx(0.325)


def test_days_outside_the_range_are_left_out(world):
    _store(world, world.team_a, "team/app", date(2026, 1, 1), date(2026, 1, 31), 31 * GB)
    _pulled(world, world.team_a, "team/app", date(2026, 2, 1), 5, 5)
    report = usage_report(world.db, date(2026, 1, 10), date(2026, 1, 10), "repository")
    [group] = report["Groups"]
    assert (group["GbMonths"], group["BytesTransferredOutside"]) == (1.0, 0)


@pytest.mark.parametrize("first, last, group_by", [
    (date(2026, 2, 2), date(2026, 2, 1), "repository"),
    (date(2020, 1, 1), date(2026, 1, 1), "repository"),
    (date(2026, 2, 1), date(2026, 2, 2), "tag:"),
    (date(2026, 2, 1), date(2026, 2, 2), "region"),
])
def test_bad_requests_are_refused(world, first, last, group_by):
    with pytest.raises(UsageReportError):
        usage_report(world.db, first, last, group_by)


@pytest.mark.parametrize("text", ["abc", "-1", "NaN", "Infinity"])
def test_bad_prices_are_refused(text):
    with pytest.raises(UsageReportError):
        Pricing.parse(text, "")
    assert Pricing.parse(" 0.023 ", "").per_gb_month == Decimal("0.023")
