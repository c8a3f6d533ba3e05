"""``berth admin usage``: storage now (GetStorageUsage, without --from/--to), a usage and cost
report over days (GetUsageReport, with them) printed as JSON, a table or CSV, or today's
storage sample taken now (--sample, RecordUsageSample)."""
from __future__ import annotations

import argparse
import csv
import io
import json

from ..api.admin.errors import AdminError

FORMATS = ("json", "table", "csv")
_COLUMNS = ("Group", "GbMonths", "ArchiveGbMonths", "GbTransferredInside",
            "GbTransferredOutside", "StorageByteDays", "ArchiveStorageByteDays",
            "BytesTransferredInside", "BytesTransferredOutside")
_COSTS = ("StorageCost", "TransferCost", "Cost")
_TABLE = {"Group": "group", "GbMonths": "GB-months", "GbTransferredInside": "GB in",
          "GbTransferredOutside": "GB out", "StorageCost": "storage cost",
          "TransferCost": "transfer cost", "Cost": "cost"}

ARGUMENTS = (
    ((("--account",), {"metavar": "ID", "help": "one account (online: default yours)"})),
    ((("--from",), {"dest": "first", "metavar": "YYYY-MM-DD",
                    "help": "report usage from this day (UTC, included)"})),
    ((("--to",), {"dest": "last", "metavar": "YYYY-MM-DD",
                  "help": "... to this day (UTC, included)"})),
    ((("--group-by",), {"default": "repository", "metavar": "repository|account|tag:KEY",
                        "help": "group the report (tag:KEY: by a resource tag's value)"})),
    ((("--format",), {"dest": "usage_format", "choices": FORMATS, "default": "json",
                      "help": "the report's output (default json)"})),
    ((("--sample",), {"action": "store_true",
                      "help": "take today's storage sample now (administrator account)"})),
)


def _report(args: argparse.Namespace) -> bool:
    return args.first is not None or args.last is not None


def operation(args: argparse.Namespace) -> str:
    if args.sample:
        return "RecordUsageSample"
    return "GetUsageReport" if _report(args) else "GetStorageUsage"


def params(args: argparse.Namespace) -> dict:
    if args.sample:
        return {}
    if not _report(args):
        if args.usage_format != "json" or args.group_by != "repository":
            raise AdminError("ValidationError", "--group-by and --format need --from and --to")
        return {"AccountId": args.account}
    if args.first is None or args.last is None:
        raise AdminError("ValidationError", "give both --from and --to")
    return {"AccountId": args.account, "From": args.first, "To": args.last,
            "GroupBy": args.group_by}


def render(args: argparse.Namespace, result: dict) -> str:
    """The result as the user asked: JSON unless a report in another format."""
    found = getattr(args, "usage_format", "json")
    if found == "csv":
        return _csv(result)
    if found == "table":
        return _table(result)
    return json.dumps(result, indent=2)


def _columns(result: dict, names: tuple[str, ...]) -> list[str]:
    return [*names, *(name for name in _COSTS if name in result["Total"])]


def _csv(result: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _columns(result, _COLUMNS)
    writer.writerow(columns)
    for group in result["Groups"]:
        writer.writerow([group[name] for name in columns])
    return out.getvalue().rstrip("\n")


def _table(result: dict) -> str:
    columns = _columns(result, ("Group", "GbMonths", "GbTransferredInside",
                                "GbTransferredOutside"))
    rows = [[_TABLE[name] for name in columns]]
    for group in (*result["Groups"], result["Total"]):
        rows.append([_cell(group[name]) for name in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    return "\n".join([f"usage {result['From']} to {result['To']} by {result['GroupBy']}",
                      *lines])


def _cell(value) -> str:
    return f"{value:.6f}" if isinstance(value, float) else str(value)
