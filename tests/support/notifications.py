"""Webhook targets and what the notifications subscriber queued for them, for unit tests that
check a domain's events end up as EventBridge events: a target per account whose pattern
selects one detail-type, the outbox delivered to the subscriber, the deliveries' bodies."""
from __future__ import annotations

import json
import os

from berth.events import Outbox
from berth.keys.master import MasterKey
from berth.notifications import subscriber
from berth.notifications.services import DeliveryService, TargetService
from berth.storage.metadata.database import Database


def watch(db: Database, account: str, detail_type: str, name: str = "hook") -> None:
    """A target of ``account`` for the events of ``detail_type`` only (made before the events:
    a target gets those from its creation on)."""
    TargetService(db, MasterKey(os.urandom(32))).put(
        account, name, "http://127.0.0.1:9/hook", {"detail-type": [detail_type]})


def delivered(db: Database, account: str, name: str = "hook") -> list[dict]:
    """The outbox handed to the notifications subscriber; the envelopes queued for the
    account's target, oldest first."""
    Outbox(db).deliver(subscriber.subscriber())
    return [json.loads(d.body) for _, d in reversed(DeliveryService(db).list(account, name))]
