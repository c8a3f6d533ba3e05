"""``berth admin audit lookup``: the audit trail's events (CloudTrail's LookupEvents), newest
first, one JSON object per line; a NextToken, if more match, on stderr."""
from __future__ import annotations

import argparse
import json
import sys

HELP = "the audit trail: API calls, registry requests and lifecycle actions"

ARGUMENTS = (
    (("--start-time",), {"metavar": "TIME", "help": "from this date or ISO 8601 time (UTC)"}),
    (("--end-time",), {"metavar": "TIME", "help": "... to this one (default: now)"}),
    (("--event-name",), {"metavar": "NAME", "help": "e.g. PutImage, PolicyExecutionEvent"}),
    (("--principal",), {"metavar": "ARN", "help": "who acted"}),
    (("--resource",), {"metavar": "ARN", "help": "a repository's ARN"}),
    (("--account",), {"metavar": "ID", "help": "the registry's account"}),
    (("--max-items",), {"metavar": "N", "default": "50", "help": "at most this many (1000)"}),
    (("--next-token",), {"metavar": "TOKEN", "help": "continue where a lookup stopped"}),
)


def params(a: argparse.Namespace) -> dict:
    return {"StartTime": a.start_time, "EndTime": a.end_time, "EventName": a.event_name,
            "PrincipalArn": a.principal, "ResourceName": a.resource, "AccountId": a.account,
            "MaxResults": a.max_items, "NextToken": a.next_token}


def render(result: dict) -> str:
    if result.get("NextToken"):
        print(f"more events: --next-token {result['NextToken']}", file=sys.stderr)
    return "\n".join(json.dumps(event, separators=(",", ":")) for event in result["Events"])
