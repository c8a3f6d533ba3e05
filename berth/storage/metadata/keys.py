"""Rows of key-encryption keys and their versions (material sealed with the master key)."""
from __future__ import annotations

import time
from functools import cache

from sqlalchemy import bindparam, func, select, update

from .database import Tx
from .registries import bump
from .schema import encryption_key_versions as versions
from .schema import encryption_keys as keys
from .schema import registries
from .statements import insert

# Bumped in the transaction of every change to a key's state or versions, so every node's
# cached view of the keys is dropped on its next use of one.
KEYS_GENERATION = "keys"
_ID = keys.c.id == bindparam("id")


def _summary():
    """Keys with their current (newest) version and when it was made."""
    return (select(keys.c.id, keys.c.account_id, keys.c.region, keys.c.alias,
                   keys.c.description, keys.c.enabled, keys.c.created_at,
                   func.max(versions.c.version).label("version"),
                   func.max(versions.c.created_at).label("version_created_at"))
            .join(versions, versions.c.key_id == keys.c.id)
            .group_by(keys.c.id, keys.c.account_id, keys.c.region, keys.c.alias,
                      keys.c.description, keys.c.enabled, keys.c.created_at))


@cache
def _key():
    return _summary().where(_ID)


@cache
def _by_alias():
    return _summary().where(keys.c.account_id == bindparam("account"),
                            keys.c.region == bindparam("region"),
                            keys.c.alias == bindparam("alias"))


@cache
def _of_account(in_region: bool):
    query = _summary().where(keys.c.account_id == bindparam("account")).order_by(
        keys.c.created_at, keys.c.id)
    return query.where(keys.c.region == bindparam("region")) if in_region else query


@cache
def _insert_key(dialect: str):
    # Any conflict (the id, or an account's alias in a region) means another node made it.
    return insert(dialect, keys, "id", "account_id", "region", "alias", "description",
                  "enabled", "created_at").on_conflict_do_nothing()


@cache
def _insert_version(dialect: str):
    return insert(dialect, versions, "key_id", "version", "material", "created_at"
                  ).on_conflict_do_nothing()


@cache
def _versions():
    return select(versions.c.version, versions.c.material).where(
        versions.c.key_id == bindparam("id")).order_by(versions.c.version)


@cache
def _set_enabled():
    return update(keys).where(_ID).values(enabled=bindparam("enabled"))


@cache
def _location():
    return select(registries.c.account_id, registries.c.region).where(
        registries.c.id == bindparam("id"))


def key(tx: Tx, key_id: str):
    """(id, account_id, region, alias, description, enabled, created_at, version,
    version_created_at) or None."""
    return tx.first(_key(), {"id": key_id})


def key_by_alias(tx: Tx, account_id: str, region: str, alias: str):
    return tx.first(_by_alias(), {"account": account_id, "region": region, "alias": alias})


def keys_of(tx: Tx, account_id: str, region: str | None) -> list:
    return tx.all(_of_account(region is not None), {"account": account_id, "region": region})


def insert_key(tx: Tx, key_id: str, account_id: str | None, region: str | None,
               alias: str | None, description: str) -> bool:
    """False when the key (or the account's alias in the region) exists already."""
    return tx.execute(_insert_key(tx.dialect_name), {
        "id": key_id, "account_id": account_id, "region": region, "alias": alias,
        "description": description, "enabled": True, "created_at": time.time()}) > 0


def insert_version(tx: Tx, key_id: str, version: int, material: bytes) -> bool:
    return tx.execute(_insert_version(tx.dialect_name), {
        "key_id": key_id, "version": version, "material": material,
        "created_at": time.time()}) > 0


def key_versions(tx: Tx, key_id: str) -> list:
    """Rows of (version, sealed material), oldest first."""
    return tx.all(_versions(), {"id": key_id})


def set_enabled(tx: Tx, key_id: str, enabled: bool) -> None:
    tx.execute(_set_enabled(), {"id": key_id, "enabled": enabled})


def registry_location(tx: Tx, registry_id: int):
    """(account_id, region) of the registry, or None."""
    return tx.first(_location(), {"id": registry_id})


def bump_keys(tx: Tx) -> None:
    bump(tx, KEYS_GENERATION)
