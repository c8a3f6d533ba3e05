"""Managing notifications: targets per account (their secrets sealed with the master key,
never returned), and the deliveries an account may inspect and replay."""
from __future__ import annotations

import json
import time
import uuid

from ..keys.master import MasterKey
from ..storage.metadata import notifications as rows
from ..storage.metadata.database import Database
from .models import (
    Delivery,
    Target,
    check_name,
    check_pattern,
    check_secret,
    check_url,
    invalid,
    not_found,
)

DEFAULT_PATTERN = {"source": ["aws.ecr"]}
MAX_LISTED = 1000


def secret_context(target_id: str) -> str:
    return f"notification-target:{target_id}"


class TargetService:
    def __init__(self, db: Database, master: MasterKey):
        self.db = db
        self.master = master

    def put(self, account: str, name: str, url: str, pattern: str | dict | None = None,
            secret: str | None = None) -> Target:
        """Create or replace the account's target ``name`` (its queued deliveries stay)."""
        check_name(name)
        check_url(url)
        compiled = check_pattern(DEFAULT_PATTERN if pattern is None else pattern)
        key = check_secret(secret)
        now = time.time()
        with self.db.write() as tx:
            found = rows.targets(tx, account, name)
            target_id = found[0].id if found else uuid.uuid4().hex
            row = {"id": target_id, "account_id": account, "name": name, "url": url,
                   "pattern": json.dumps(compiled, separators=(",", ":")),
                   "secret": None if key is None else self.master.seal(
                       key, secret_context(target_id)),
                   "created_at": now, "updated_at": now}
            (rows.update_target if found else rows.insert_target)(tx, row)
            return Target.from_row(rows.targets(tx, account, name)[0])

    def list(self, account: str) -> list[Target]:
        with self.db.read() as tx:
            return [Target.from_row(r) for r in rows.targets(tx, account)]

    def get(self, account: str, name: str) -> Target:
        with self.db.read() as tx:
            found = rows.targets(tx, account, name)
        if not found:
            raise not_found(f"target {name!r}")
        return Target.from_row(found[0])

    def delete(self, account: str, name: str) -> None:
        """Delete the target and every delivery queued for it."""
        with self.db.write() as tx:
            found = rows.targets(tx, account, name)
            if not found:
                raise not_found(f"target {name!r}")
            rows.delete_target(tx, found[0].id, account, name)

    def secret(self, target_id: str, sealed: bytes | None) -> bytes | None:
        return None if sealed is None else self.master.open(sealed, secret_context(target_id))


class DeliveryService:
    def __init__(self, db: Database):
        self.db = db

    def list(self, account: str, target: str | None = None, dead: bool = False,
             limit: int = 100) -> list[tuple[str, Delivery]]:
        """(target name, delivery), newest first."""
        if not 1 <= limit <= MAX_LISTED:
            raise invalid(f"MaxResults must be within 1..{MAX_LISTED}")
        with self.db.read() as tx:
            found = rows.listed(tx, account, target, rows.DEAD if dead else None, limit)
        return [(r.target_name, Delivery.from_row(r)) for r in found]

    def replay(self, account: str, target: str | None = None,
               ids: list[str] | None = None) -> int:
        """Queue dead deliveries again (those named, else all of the account's or the
        target's); returns how many."""
        with self.db.write() as tx:
            dead = rows.listed(tx, account, target, rows.DEAD, 1_000_000)
            chosen = [r.id for r in dead if ids is None or r.id in set(ids)]
            return rows.replay(tx, chosen, time.time())
