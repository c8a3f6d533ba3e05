"""Usage reports: storage in GB-months and transfer in GB per group (repository, account or
the value of one resource tag: the cost allocation tags), priced when prices are set.

GB-months are computed as AWS computes them from daily samples: each day a repository holds
B bytes adds B / 10^9 / (days in that day's month) GB-months, so a GB kept for a whole month
is 1 GB-month whatever the month's length. Sums are exact (fractions), made floats only at the
end. Transfer inside the deployment's networks is free; outside it is priced per GB
(10^9 bytes). The archive class (objects only archived images reference) is reported apart,
in GB-months and byte-days, unpriced: there is no archive price setting.

Cost allocation tags apply per day: a day's storage is grouped by the tags its sample kept
(the repository's tags that day), and a day's transfer by the tags of the same repository's
sample of that day. A day without a sample (transfer only), or sampled before samples kept
tags, falls back to the repository's tags now; a repository deleted since has none now, so
such days of it are untagged."""
from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ..storage.metadata import usage_daily
from ..storage.metadata.database import Database
from .sampling import STANDARD

GB = 10 ** 9
MAX_DAYS = 3 * 366
UNTAGGED = "(untagged)"  # tag values cannot hold parentheses: no tag value reads the same
FORMULA = "GB-months = sum over days of bytes / 1e9 / days in that day's month"


class UsageReportError(ValueError):
    """A report asked for with bad dates, grouping or prices."""


def _price(text: str, name: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        price = Decimal(text.strip())
    except InvalidOperation:
        raise UsageReportError(f"{name} must be a decimal number, not {text!r}") from None
    if not price.is_finite() or price < 0:
        raise UsageReportError(f"{name} must be a non-negative number, not {text!r}")
    return price


@dataclass(frozen=True)
class Pricing:
    per_gb_month: Decimal | None = None
    per_gb_transferred: Decimal | None = None

    @classmethod
    def parse(cls, per_gb_month: str = "", per_gb_transferred: str = "") -> "Pricing":
        return cls(_price(per_gb_month, "price_per_gb_month"),
                   _price(per_gb_transferred, "price_per_gb_transferred"))


def gb_months(day: date, size: int) -> Fraction:
    return Fraction(size, GB * calendar.monthrange(day.year, day.month)[1])


@dataclass
class Line:
    labels: dict
    byte_days: dict[str, int] = field(default_factory=dict)   # storage class -> byte-days
    gb_months: dict[str, Fraction] = field(default_factory=dict)
    inside: int = 0
    outside: int = 0

    def add_storage(self, day: date, storage_class: str, size: int) -> None:
        self.byte_days[storage_class] = self.byte_days.get(storage_class, 0) + size
        self.gb_months[storage_class] = (self.gb_months.get(storage_class, Fraction(0))
                                         + gb_months(day, size))

    def as_dict(self, pricing: Pricing) -> dict:
        standard = self.gb_months.get(STANDARD, Fraction(0))
        found = {**self.labels,
                 "GbMonths": _round(standard),
                 "StorageByteDays": self.byte_days.get(STANDARD, 0),
                 "ArchiveGbMonths": _round(sum((v for k, v in self.gb_months.items()
                                                if k != STANDARD), Fraction(0))),
                 "ArchiveStorageByteDays": sum(v for k, v in self.byte_days.items()
                                               if k != STANDARD),
                 "BytesTransferredInside": self.inside,
                 "BytesTransferredOutside": self.outside,
                 "GbTransferredInside": _round(Fraction(self.inside, GB)),
                 "GbTransferredOutside": _round(Fraction(self.outside, GB))}
        found.update(_costs(pricing, standard, Fraction(self.outside, GB)))
        return found


def _round(value: Fraction) -> float:
    return float(value)  # the nearest float: no rounding that tiny amounts would lose


def _costs(pricing: Pricing, gb_months_: Fraction, gb_out: Fraction) -> dict:
    costs = {}
    if pricing.per_gb_month is not None:
        costs["StorageCost"] = gb_months_ * Fraction(pricing.per_gb_month)
    if pricing.per_gb_transferred is not None:
        costs["TransferCost"] = gb_out * Fraction(pricing.per_gb_transferred)
    if costs:
        costs["Cost"] = sum(costs.values(), Fraction(0))
    return {name: float(value) for name, value in costs.items()}


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise UsageReportError(f"{name} must be a date YYYY-MM-DD, not {text!r}") from None


class _Grouping:
    """Which group a repository's usage of a day falls in."""

    def __init__(self, db: Database, group_by: str):
        self.group_by = group_by
        self.tag = group_by[4:] if group_by.startswith("tag:") else None
        if group_by not in ("repository", "account") and not self.tag:
            raise UsageReportError("GroupBy must be repository, account or tag:KEY")
        self.now: dict[tuple[str, str, str], str] = {}
        self._parsed: dict[str, str | None] = {}  # a sample's tags (JSON) -> the key's value
        if self.tag:
            with db.read() as tx:
                self.now = usage_daily.tag_values(tx, self.tag)

    def labels(self, account: str, region: str, repository: str,
               tags: str | None = None) -> dict:
        """``tags``: the day's sample's tags (JSON), None when unknown."""
        if self.group_by == "account":
            return {"Group": account, "AccountId": account}
        if self.group_by == "repository":
            arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
            return {"Group": arn, "AccountId": account, "Region": region,
                    "RepositoryName": repository}
        value = (self.now.get((account, region, repository)) if tags is None
                 else self._value(tags))
        return {"Group": UNTAGGED if value is None else value, "TagKey": self.tag,
                "TagValue": value}

    def _value(self, tags: str) -> str | None:
        if tags not in self._parsed:  # days of a repository mostly share one text
            self._parsed[tags] = json.loads(tags).get(self.tag)
        return self._parsed[tags]


def _sampled_tags(samples: list) -> dict[tuple, str]:
    """(day, account, region, repository) -> the tags its sample of that day kept."""
    return {(row.day, row.account_id, row.region, row.repository): row.tags
            for row in samples if row.tags is not None}


def usage_report(db: Database, first: date, last: date, group_by: str,
                 account: str | None = None, pricing: Pricing = Pricing()) -> dict:
    """Usage from ``first`` to ``last`` (both included), per group, with a total."""
    if last < first or (last - first).days >= MAX_DAYS:
        raise UsageReportError(f"To must be on or after From, at most {MAX_DAYS} days on")
    grouping = _Grouping(db, group_by)
    with db.read() as tx:
        samples = usage_daily.samples(tx, first.isoformat(), last.isoformat(), account)
        transfers = usage_daily.transfers(tx, first.isoformat(), last.isoformat(), account)
    lines: dict[str, Line] = {}
    total = Line({"Group": "Total"})

    def line(row, tags: str | None) -> Line:
        labels = grouping.labels(row.account_id, row.region, row.repository, tags)
        return lines.setdefault(labels["Group"], Line(labels))

    for row in samples:
        for found in (line(row, row.tags), total):
            found.add_storage(date.fromisoformat(row.day), row.storage_class, int(row.bytes))
    sampled = _sampled_tags(samples) if grouping.tag else {}
    for row in transfers:
        tags = sampled.get((row.day, row.account_id, row.region, row.repository))
        for found in (line(row, tags), total):
            found.inside += int(row.bytes_inside)
            found.outside += int(row.bytes_outside)
    return {"From": first.isoformat(), "To": last.isoformat(), "GroupBy": group_by,
            "Formula": FORMULA,
            "Groups": [lines[name].as_dict(pricing) for name in sorted(lines)],
            "Total": total.as_dict(pricing)}
