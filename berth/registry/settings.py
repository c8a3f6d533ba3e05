"""Registry-wide settings: one JSON object in ``registries.settings`` per registry (an
account's, in one region), shared by every feature that keeps a registry-level value there
(account settings, create-on-push, ...). Updates merge: keys a caller does not name are kept."""
from __future__ import annotations

import json
from typing import Any

from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database, Tx
from .errors import RegistryError

ACCOUNT_SETTINGS_KEY = "accountSettings"
# ECR's account settings: allowed values and defaults as the ECR model documents them: basic
# scanning is AWS_NATIVE only (Clair is retired), the registry policy scope V2 (the default;
# AWS advises against V1, which Berth's policy engine does not implement), blob mounting off
# until enabled.
ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": (("AWS_NATIVE",), "AWS_NATIVE"),
    "REGISTRY_POLICY_SCOPE": (("V2",), "V2"),
    "BLOB_MOUNTING": (("ENABLED", "DISABLED"), "DISABLED"),
}


class UnknownRegistryId(LookupError):
    """No registry has that id."""


class AccountSettingInvalid(RegistryError):
    """An account setting name (``field`` "name") or value (``field`` "value") not among
    ``allowed``."""

    def __init__(self, field: str, allowed: tuple[str, ...], setting: str | None = None):
        super().__init__(f"invalid account setting {field}: must be one of "
                         f"{', '.join(allowed)}", {"field": field, "setting": setting})
        self.field, self.allowed, self.setting = field, allowed, setting


def read_registry(tx: Tx, registry_id: int, lock: bool = False) -> tuple[dict[str, Any], str]:
    """The registry's settings and its account id; UnknownRegistryId if there is none."""
    row = registry_rows.settings(tx, registry_id, lock)
    if row is None:
        raise UnknownRegistryId(f"no registry has id {registry_id}")
    return (json.loads(row.settings) if row.settings else {}), row.account_id


def read_settings(tx: Tx, registry_id: int, lock: bool = False) -> dict[str, Any]:
    return read_registry(tx, registry_id, lock)[0]


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
    registry_rows.set_settings(tx, registry_id, text)
    return settings


def get_settings(db: Database, registry_id: int) -> dict[str, Any]:
    with db.read() as tx:
        return read_settings(tx, registry_id)


def update_settings(db: Database, registry_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    with db.write() as tx:
        return merge_settings(tx, registry_id, changes)


def check_account_setting(name: str, value: str | None = None) -> None:
    """AccountSettingInvalid unless ``name`` (and ``value``, when given) are known."""
    if name not in ACCOUNT_SETTINGS:
        raise AccountSettingInvalid("name", tuple(ACCOUNT_SETTINGS))
    allowed = ACCOUNT_SETTINGS[name][0]
    if value is not None and value not in allowed:
        raise AccountSettingInvalid("value", allowed, name)


def account_setting(db: Database, registry_id: int, name: str) -> str:
    """The registry's value of the account setting ``name``, else its default."""
    check_account_setting(name)
    stored = get_settings(db, registry_id).get(ACCOUNT_SETTINGS_KEY, {})
    return stored.get(name, ACCOUNT_SETTINGS[name][1])


def put_account_setting(db: Database, registry_id: int, name: str, value: str) -> str:
    check_account_setting(name, value)
    with db.write() as tx:  # one transaction: concurrent puts of different names both land
        current = read_settings(tx, registry_id, lock=True).get(ACCOUNT_SETTINGS_KEY, {})
        merge_settings(tx, registry_id, {ACCOUNT_SETTINGS_KEY: {**current, name: value}})
    return value


class AccountSettings:
    """A registry's account settings, as ECR's Get/PutAccountSetting see them."""

    def __init__(self, db: Database, registry_id: int):
        self.db = db
        self.registry_id = registry_id

    def get(self, name: str) -> str:
        return account_setting(self.db, self.registry_id, name)

    def put(self, name: str, value: str) -> str:
        return put_account_setting(self.db, self.registry_id, name, value)
