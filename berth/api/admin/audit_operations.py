"""The admin operation on the audit trail (administrator account only): LookupAuditEvents,
CloudTrail's LookupEvents over Berth's trail (a time range; an event name, principal,
resource or account), newest first, paged by NextToken."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ...audit.services import MAX_LOOKUP, lookup_trail
from ...registry.registry import Registry
from .errors import validation_error
from .operations import Params, operation
from .shapes import timestamp

_FIELDS = {"StartTime": False, "EndTime": False, "EventName": False, "PrincipalArn": False,
           "ResourceName": False, "AccountId": False, "MaxResults": False, "NextToken": False}


def _time(p: Params, name: str, default: float) -> float:
    if name not in p:
        return default
    try:
        when = datetime.fromisoformat(p[name])
    except ValueError:
        raise validation_error(f"{name} {p[name]!r} is not a date or ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _int(p: Params, name: str, default: int, top: int) -> int:
    value = p.get(name, str(default))
    if not value.isdigit() or not 1 <= int(value) <= top:
        raise validation_error(f"{name} must be a whole number from 1 to {top}")
    return int(value)


@operation("LookupAuditEvents", "berth:LookupAuditEvents", _FIELDS, None, storage=True)
def lookup_audit_events(registry: Registry, p: Params) -> dict:
    limit = _int(p, "MaxResults", 50, MAX_LOOKUP)
    before = _int(p, "NextToken", 2**62, 2**62) if "NextToken" in p else None
    events = lookup_trail(registry, _time(p, "StartTime", 0.0),
                          _time(p, "EndTime", time.time() + 1), limit + 1, before,
                          name=p.get("EventName"), principal_arn=p.get("PrincipalArn"),
                          resource=p.get("ResourceName"), account_id=p.get("AccountId"))
    page = events[:limit]
    for event in page:
        event["EventTime"] = timestamp(event["EventTime"])
    answer: dict = {"Events": [{k: v for k, v in e.items() if k != "Seq"} for e in page]}
    if len(events) > limit:
        answer["NextToken"] = str(page[-1]["Seq"])
    return answer
