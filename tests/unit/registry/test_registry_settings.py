"""Registry-wide settings (``registries.settings``): merged updates that keep keys other
features own, per registry, on SQLite and PostgreSQL."""
import threading
import time

import pytest

from berth.registry.settings import UnknownRegistryId, get_settings, merge_settings, update_settings
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import registries as registry_rows


def _registry(db, account_id: str, region: str = "us-east-1") -> int:
    with db.write() as tx:
        if identity_rows.find_account(tx, "id", account_id) is None:
            identity_rows.insert_account(tx, {"id": account_id, "name": f"a{account_id}",
                                              "is_admin": False, "created_at": time.time()})
        return registry_rows.ensure_registry(tx, account_id, region)


def test_a_new_registry_has_no_settings(db):
    assert get_settings(db, _registry(db, "111122223333")) == {}


def test_updates_merge_and_keep_unknown_keys(db):
    registry = _registry(db, "111122223333")
    assert update_settings(db, registry, {"createOnPush": True}) == {"createOnPush": True}
    update_settings(db, registry, {"accountSettings": {"BLOB_MOUNTING": "ENABLED"}})
    assert get_settings(db, registry) == {"createOnPush": True,
                                          "accountSettings": {"BLOB_MOUNTING": "ENABLED"}}
    update_settings(db, registry, {"createOnPush": False})
    assert get_settings(db, registry)["createOnPush"] is False
    assert get_settings(db, registry)["accountSettings"] == {"BLOB_MOUNTING": "ENABLED"}


def test_none_removes_a_key(db):
    registry = _registry(db, "111122223333")
    update_settings(db, registry, {"a": 1, "b": 2})
    assert update_settings(db, registry, {"a": None, "missing": None}) == {"b": 2}
    assert update_settings(db, registry, {"b": None}) == {}
    assert get_settings(db, registry) == {}


def test_registries_are_separate(db):
    one, two = _registry(db, "111122223333"), _registry(db, "111122223333", "eu-west-1")
    three = _registry(db, "444455556666")
    update_settings(db, one, {"createOnPush": True})
    assert get_settings(db, two) == {} and get_settings(db, three) == {}


def test_inside_a_callers_transaction(db):
    registry = _registry(db, "111122223333")
    with pytest.raises(RuntimeError):
        with db.write() as tx:
            merge_settings(tx, registry, {"createOnPush": True})
            raise RuntimeError("rolled back")
    assert get_settings(db, registry) == {}


def test_an_unknown_registry_id(db):
    with pytest.raises(UnknownRegistryId):
        get_settings(db, 999)
    with pytest.raises(UnknownRegistryId):
        update_settings(db, 999, {"x": 1})


def test_concurrent_updates_of_different_keys_all_land(db):
    registry = _registry(db, "111122223333")
    errors = []

    def put(key: str) -> None:
        try:
            for n in range(5):
                update_settings(db, registry, {key: n})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(f"k{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert get_settings(db, registry) == {f"k{i}": 4 for i in range(6)}
