from __future__ import annotations

import json
import time
from functools import cache

from sqlalchemy import and_, bindparam, case, delete, select, update

from .database import Tx
from .schema import uploads
from .statements import insert

_ID = uploads.c.id == bindparam("id")


@cache
def _create(dialect: str):
    return insert(dialect, uploads, "id", "registry_id", "repository", "size", "driver_state",
                  "key_ref", "created_at", "updated_at")


@cache
def _get():
    return select(uploads.c.registry_id, uploads.c.repository, uploads.c.size,
                  uploads.c.driver_state, uploads.c.key_ref, uploads.c.parts,
                  uploads.c.small_parts).where(_ID)


@cache
def _advance():
    # SET's expressions read the row as it was: a part that follows a short one counts it.
    part = bindparam("part") == 1
    follows_short = and_(part, uploads.c.parts > 0, uploads.c.last_part < bindparam("min_part"))
    return update(uploads).where(_ID, uploads.c.size == bindparam("old_size")).values(
        size=bindparam("new_size"), driver_state=bindparam("state"),
        updated_at=bindparam("now"), parts=uploads.c.parts + bindparam("part"),
        last_part=case((part, bindparam("new_size") - bindparam("old_size")),
                       else_=uploads.c.last_part),
        small_parts=uploads.c.small_parts + case((follows_short, 1), else_=0))


@cache
def _remove():
    return delete(uploads).where(_ID)


@cache
def _remove_for_repository():
    return delete(uploads).where(uploads.c.registry_id == bindparam("registry_id"),
                                 uploads.c.repository == bindparam("repository"))


@cache
def _stale():
    return (select(uploads.c.id, uploads.c.driver_state)
            .where(uploads.c.updated_at < bindparam("cutoff"))
            .order_by(uploads.c.updated_at).limit(bindparam("limit")))


def create(tx: Tx, upload_id: str, registry_id: int, repository: str, state: dict,
           key_ref: str = "") -> None:
    now = time.time()
    tx.execute(_create(tx.dialect_name), {
        "id": upload_id, "registry_id": registry_id, "repository": repository, "size": 0,
        "driver_state": json.dumps(state), "key_ref": key_ref, "created_at": now,
        "updated_at": now})


def get(tx: Tx, upload_id: str):
    """((registry id, repository), size, driver state) or None."""
    row = find(tx, upload_id)
    if row is None:
        return None
    return (row.registry_id, row.repository), row.size, json.loads(row.driver_state)


def find(tx: Tx, upload_id: str):
    """The row (registry_id, repository, size, driver_state as JSON text, key_ref: what its
    bytes are sealed with, parts: ECR API layer parts so far, small_parts: those but the last
    under the minimum ``advance`` was given) or None."""
    return tx.first(_get(), {"id": upload_id})


def advance(tx: Tx, upload_id: str, old_size: int, new_size: int, state: dict,
            part: bool = False, min_part: int = 0) -> bool:
    """Compare-and-set the acknowledged size (``part``: an ECR API layer part, counted, and
    the part before it counted in small_parts if under ``min_part`` bytes); False if another
    writer moved it first."""
    return tx.execute(_advance(), {"id": upload_id, "old_size": old_size, "new_size": new_size,
                                   "state": json.dumps(state), "now": time.time(),
                                   "part": int(part), "min_part": min_part}) == 1


def remove(tx: Tx, upload_id: str) -> bool:
    return tx.execute(_remove(), {"id": upload_id}) > 0


def remove_for_repository(tx: Tx, registry_id: int, repository: str) -> int:
    """Forget the repository's uploads (their stored parts go as orphans do: garbage
    collection's storage walk and the upload expiry remove parts no row knows)."""
    return tx.execute(_remove_for_repository(), {"registry_id": registry_id,
                                                 "repository": repository})


def stale(tx: Tx, older_than: float, limit: int = 100) -> list:
    return tx.all(_stale(), {"cutoff": older_than, "limit": limit})
