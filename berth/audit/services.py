"""Looking up the audit trail (CloudTrail's LookupEvents: a time range, and an event name,
principal, resource or account), recording lifecycle actions in the transaction that takes
them, and pruning what is older than the retention."""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from ..storage.metadata import audit as rows
from ..storage.metadata import notifications as addresses
from ..storage.metadata.database import Database, Tx
from .events import ECR_SOURCE, event_id, repository_arn

if TYPE_CHECKING:
    from ..registry.registry import Registry

LIFECYCLE_PRINCIPAL = "ecr.amazonaws.com"  # the service acts, as in ECR's PolicyExecutionEvent
MAX_LOOKUP = 1000


def lookup(db: Database, start: float, end: float, limit: int = 50, before: int | None = None,
           name: str | None = None, principal_arn: str | None = None,
           resource: str | None = None, account_id: str | None = None) -> list[dict]:
    """Events newest first (up to MAX_LOOKUP, and one more to tell whether more match);
    ``before``: the seq the previous page ended at."""
    with db.read() as tx:
        found = rows.lookup(tx, start, end, before or 2**62, min(limit, MAX_LOOKUP + 1),
                            name=name, principal_arn=principal_arn, resource=resource,
                            account_id=account_id)
    return [_event(r) for r in found]


def lookup_trail(registry: "Registry", start: float, end: float, limit: int = 50,
                 before: int | None = None, **filters: str | None) -> list[dict]:
    """``lookup`` for a front-end, which holds a registry (any: the trail is the
    deployment's) rather than the database."""
    return lookup(registry.db, start, end, limit, before, **filters)


def _event(r) -> dict:
    return {"Seq": r.seq, "EventId": r.event_id, "EventTime": r.time,
            "EventSource": r.source, "EventName": r.name, "ReadOnly": bool(r.read_only),
            "AccountId": r.account_id, "Region": r.region, "PrincipalArn": r.principal_arn,
            "SourceIPAddress": r.source_ip, "UserAgent": r.user_agent,
            "Resources": [{"ResourceType": "AWS::ECR::Repository", "ResourceName": r.resource}]
            if r.resource else [],
            "RequestParameters": json.loads(r.parameters) if r.parameters else None,
            "ErrorCode": r.error_code, "RequestId": r.request_id}


def record_lifecycle(tx: Tx, registry_id: int, repository: str, action: str, digest: str,
                     tags: list[str], priority: int, now: float) -> None:
    """A lifecycle action (ECR's PolicyExecutionEvent), in the transaction that takes it."""
    account, region = addresses.registry_address(tx, registry_id) or ("", "")
    rows.add(tx, [{
        "event_id": event_id(), "time": now, "account_id": account, "region": region,
        "source": ECR_SOURCE, "name": "PolicyExecutionEvent", "read_only": False,
        "principal_arn": LIFECYCLE_PRINCIPAL, "source_ip": "", "user_agent": "",
        "resource": repository_arn(region, account, repository),
        "parameters": json.dumps({"actionType": action, "imageDigest": digest,
                                  "imageTags": tags, "rulePriority": priority},
                                 separators=(",", ":")),
        "error_code": None, "request_id": ""}])


def prune(db: Database, retention_days: int, now: float | None = None) -> int:
    before = (time.time() if now is None else now) - retention_days * 86400.0
    with db.write() as tx:
        return rows.prune(tx, before)
