"""The outbox subscriber of notifications: each event ECR would publish (image actions and
scans, replications, pull-through cache syncs, lifecycle actions) becomes its EventBridge
envelopes (envelope.py), and each envelope a delivery row for every target of the event's
account whose pattern it matches -- in the transaction that moves the subscriber's cursor, so
each delivery is created exactly once. Sending is the delivery job's (delivery.py): a slow or
dead target never slows the change that caused the event."""
from __future__ import annotations

import hashlib
import json
import time

from ..events import Event, Subscriber
from ..storage.metadata import notifications as rows
from ..storage.metadata.database import Tx
from .envelope import KINDS, envelopes
from .patterns import matches

NAME = "notifications"


def handle(tx: Tx, events: list[Event]) -> None:
    wanted = [e for e in events if e.kind in KINDS]
    if not wanted:
        return
    by_account: dict[str, list] = {}
    for target in rows.targets(tx):
        by_account.setdefault(target.account_id, []).append(
            (target.id, json.loads(target.pattern), target.created_at))
    if not by_account:
        return
    addresses: dict[int, tuple[str, str] | None] = {}
    now = time.time()
    deliveries = []
    for event in wanted:
        if event.registry_id not in addresses:
            addresses[event.registry_id] = rows.registry_address(tx, event.registry_id)
        address = addresses[event.registry_id]
        targets = by_account.get(address[0], []) if address else []
        if not targets:
            continue
        for envelope in envelopes(event, *address):
            deliveries.extend(_delivery(target_id, event.repository, envelope, now)
                              for target_id, pattern, since in targets
                              if event.created_at >= since and matches(pattern, envelope))
    rows.add_deliveries(tx, deliveries)


def _delivery(target_id: str, repository: str, envelope: dict, now: float) -> dict:
    # Derived, not random: a delivery made again (its first making lost to a power loss
    # after it was sent: the outbox commits without waiting for the disk) has the same id,
    # which receivers dedupe by.
    delivery_id = hashlib.sha256(f"{target_id}:{envelope['id']}".encode()).hexdigest()[:32]
    return {"id": delivery_id, "target_id": target_id, "repository": repository,
            "event_id": envelope["id"], "body": json.dumps(envelope, separators=(",", ":")),
            "state": rows.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}


def subscriber() -> Subscriber:
    # From the start: a target gets the events from its creation on, even those committed
    # before this subscriber's first run.
    return Subscriber(NAME, handle, from_start=True)
