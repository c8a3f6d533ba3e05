"""Rows of registries (one per account and region, with its policy and settings JSON), token
signing keys and generation counters."""
from __future__ import annotations

import time
from functools import cache

from sqlalchemy import bindparam, select, update

from .database import Tx
from .schema import generations, registries, repositories, signing_keys, uploads
from .statements import insert

# Bumped by every change that authorization reads: identities, keys, policies, and a
# repository's existence and tags (its policy and aws:ResourceTag keys).
IAM_GENERATION = "iam"
_BY_ID = registries.c.id == bindparam("id")


@cache
def _registry_id():
    return select(registries.c.id).where(registries.c.account_id == bindparam("account"),
                                         registries.c.region == bindparam("region"))


@cache
def _insert_registry(dialect: str):
    return insert(dialect, registries, "account_id", "region", "created_at"
                  ).on_conflict_do_nothing(index_elements=["account_id", "region"])


@cache
def _registry_policy():
    return select(registries.c.policy).where(_BY_ID)


@cache
def _set_registry_policy():
    return update(registries).where(_BY_ID).values(
        policy=bindparam("policy"))


@cache
def _settings(lock: bool):
    query = select(registries.c.settings, registries.c.account_id,
                   registries.c.region).where(_BY_ID)
    # Read-modify-write: on PostgreSQL a concurrent update of the row waits for ours.
    return query.with_for_update() if lock else query


@cache
def _set_settings():
    return update(registries).where(_BY_ID).values(
        settings=bindparam("settings"))


@cache
def _adopt(table):
    return update(table).where(table.c.registry_id == 0).values(
        registry_id=bindparam("registry"))


def registry_id(tx: Tx, account_id: str, region: str) -> int | None:
    return tx.scalar(_registry_id(), {"account": account_id, "region": region})


def ensure_registry(tx: Tx, account_id: str, region: str) -> int:
    found = registry_id(tx, account_id, region)
    if found is None:
        tx.execute(_insert_registry(tx.dialect_name), {
            "account_id": account_id, "region": region, "created_at": time.time()})
        found = registry_id(tx, account_id, region)
    return found


def registry_policy(tx: Tx, registry: int) -> str | None:
    return tx.scalar(_registry_policy(), {"id": registry})


def set_registry_policy(tx: Tx, registry: int, policy: str | None) -> None:
    tx.execute(_set_registry_policy(), {"id": registry, "policy": policy})


def settings(tx: Tx, registry: int, lock: bool = False):
    """(settings JSON text or None, account_id) of the registry, or None if no registry has
    that id; ``lock`` holds the row for a read-modify-write."""
    return tx.first(_settings(lock), {"id": registry})


def set_settings(tx: Tx, registry: int, text: str | None) -> None:
    tx.execute(_set_settings(), {"id": registry, "settings": text})


def adopt_orphans(tx: Tx, registry: int) -> int:
    """Give repositories and uploads from before registries existed to ``registry``."""
    return sum(tx.execute(_adopt(table), {"registry": registry})
               for table in (repositories, uploads))


# -- signing keys --------------------------------------------------------------------------
@cache
def _insert_signing_key(dialect: str):
    return insert(dialect, signing_keys, "id", "secret", "created_at")


@cache
def _signing_keys(one: bool):
    query = select(signing_keys.c.id, signing_keys.c.secret, signing_keys.c.created_at)
    if one:
        return query.where(signing_keys.c.id == bindparam("id"))
    return query.order_by(signing_keys.c.created_at.desc(), signing_keys.c.id)


def insert_signing_key(tx: Tx, key_id: str, secret: bytes) -> None:
    tx.execute(_insert_signing_key(tx.dialect_name),
               {"id": key_id, "secret": secret, "created_at": time.time()})


def signing_key(tx: Tx, key_id: str):
    return tx.first(_signing_keys(True), {"id": key_id})


def newest_signing_key(tx: Tx):
    return tx.first(_signing_keys(False))


# -- generations ---------------------------------------------------------------------------
@cache
def _generation():
    return select(generations.c.value).where(generations.c.name == bindparam("name"))


@cache
def _bump(dialect: str):
    # One upsert: two first bumps racing cannot both miss the row and lose one.
    return insert(dialect, generations, "name", "value").on_conflict_do_update(
        index_elements=["name"], set_={"value": generations.c.value + 1})


def generation(tx: Tx, name: str) -> int:
    return tx.scalar(_generation(), {"name": name}) or 0


def bump(tx: Tx, name: str) -> None:
    """Advance the counter inside the caller's write, so readers see the change and the new
    value together."""
    tx.execute(_bump(tx.dialect_name), {"name": name, "value": 1})
