"""The admin operations on event notifications, per account, authorized as berth: actions on
the account's root: PutEventTarget (create or replace a webhook target: Url, EventPattern in
EventBridge's syntax, optional Secret for the HMAC signature header -- sealed, never
returned), ListEventTargets, DeleteEventTarget, ListEventDeliveries (newest first; a target's,
dead ones only) and ReplayEventDeliveries (dead deliveries queued again)."""
from __future__ import annotations

import json

from ...iam.service import Iam
from ...notifications.envelope import iso_time
from ...notifications.models import Delivery, Target
from .errors import validation_error
from .operations import Params, account_root, operation

_ACCOUNT = {"AccountId": True}
_TARGET = {**_ACCOUNT, "Name": True}


def _target(found: Target) -> dict:
    return {"Name": found.name, "AccountId": found.account_id, "Url": found.url,
            "EventPattern": json.dumps(found.pattern), "HasSecret": found.has_secret,
            "CreatedAt": iso_time(found.created_at), "UpdatedAt": iso_time(found.updated_at)}


def _delivery(target: str, found: Delivery) -> dict:
    shape = {"DeliveryId": found.id, "TargetName": target, "EventId": found.event_id,
             "RepositoryName": found.repository, "State": found.state,
             "Attempts": found.attempts, "CreatedAt": iso_time(found.created_at),
             "Event": json.loads(found.body)}
    if found.state == "pending":
        shape["NextAttemptAt"] = iso_time(found.next_attempt_at)
    if found.finished_at is not None:
        shape["FinishedAt"] = iso_time(found.finished_at)
    if found.last_error:
        shape["LastError"] = found.last_error
    return shape


def _flag(p: Params, name: str) -> bool:
    value = p.get(name, "false").lower()
    if value not in ("true", "false"):
        raise validation_error(f"{name} must be true or false")
    return value == "true"


@operation("PutEventTarget", "berth:PutEventTarget",
           {**_TARGET, "Url": True, "EventPattern": False, "Secret": False}, account_root)
def put_event_target(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])  # NoSuchEntity for an unknown account
    return {"Target": _target(iam.event_targets.put(p["AccountId"], p["Name"], p["Url"],
                                                    p.get("EventPattern"), p.get("Secret")))}


@operation("ListEventTargets", "berth:ListEventTargets", _ACCOUNT, account_root)
def list_event_targets(iam: Iam, p: Params) -> dict:
    return {"Targets": [_target(t) for t in iam.event_targets.list(p["AccountId"])]}


@operation("DeleteEventTarget", "berth:DeleteEventTarget", _TARGET, account_root)
def delete_event_target(iam: Iam, p: Params) -> dict:
    iam.event_targets.delete(p["AccountId"], p["Name"])
    return {}


@operation("ListEventDeliveries", "berth:ListEventDeliveries",
           {**_ACCOUNT, "TargetName": False, "Dead": False, "MaxResults": False}, account_root)
def list_event_deliveries(iam: Iam, p: Params) -> dict:
    limit = p.get("MaxResults", "100")
    if not limit.isdigit() or len(limit) > 6:
        raise validation_error("MaxResults must be a whole number")
    found = iam.event_deliveries.list(p["AccountId"], p.get("TargetName"), _flag(p, "Dead"),
                                      int(limit))
    return {"Deliveries": [_delivery(name, d) for name, d in found]}


@operation("ReplayEventDeliveries", "berth:ReplayEventDeliveries",
           {**_ACCOUNT, "TargetName": False, "DeliveryIds": False}, account_root)
def replay_event_deliveries(iam: Iam, p: Params) -> dict:
    ids = p.get("DeliveryIds")
    chosen = None if ids is None else [i.strip() for i in ids.split(",") if i.strip()]
    count = iam.event_deliveries.replay(p["AccountId"], p.get("TargetName"), chosen)
    return {"Replayed": count}
