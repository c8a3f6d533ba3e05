"""Registry-wide settings: one JSON object in ``registries.settings`` per registry (an
account's, in one region), shared by every feature that keeps a registry-level value there
(account settings, create-on-push, ...). Updates merge: keys a caller does not name are kept."""
from __future__ import annotations

import json
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update

from ..storage.metadata.database import Database, Tx
from ..storage.metadata.schema import registries


class UnknownRegistryId(LookupError):
    """No registry has that id."""


@cache
def _select(lock: bool):
    query = select(registries.c.id, registries.c.settings).where(
        registries.c.id == bindparam("id"))
    # Read-modify-write: on PostgreSQL a concurrent update of the row waits for ours.
    return query.with_for_update() if lock else query


@cache
def _update():
    return update(registries).where(registries.c.id == bindparam("id")).values(
        settings=bindparam("settings"))


def read_settings(tx: Tx, registry_id: int, lock: bool = False) -> dict[str, Any]:
    row = tx.first(_select(lock), {"id": registry_id})
    if row is None:
        raise UnknownRegistryId(f"no registry has id {registry_id}")
    return json.loads(row.settings) if row.settings else {}


def merge_settings(tx: Tx, registry_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Within the caller's write transaction: apply ``changes`` (a None value removes its key)
    and return the settings as they now are."""
    settings = read_settings(tx, registry_id, lock=True)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    text = json.dumps(settings, sort_keys=True, separators=(",", ":")) if settings else None
    tx.execute(_update(), {"id": registry_id, "settings": text})
    return settings


def get_settings(db: Database, registry_id: int) -> dict[str, Any]:
    with db.read() as tx:
        return read_settings(tx, registry_id)


def update_settings(db: Database, registry_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    with db.write() as tx:
        return merge_settings(tx, registry_id, changes)
