"""The key store as blob encryption uses it (Keyring), on SQLite and PostgreSQL: data keys
round-trip, rotation keeps old data readable, a disabled key refuses with its ARN, and a
change made through one store is honoured by another on the same database at its next use."""
import pytest

from berth.keys.master import MasterKey, MasterKeyError
from berth.keys import KeyStore, KeyUnsupported, open_keys
from berth.storage.blobs.keyring import DEPLOYMENT_KEY, KeyUnavailable
from berth.storage.metadata import keys as key_rows
from tests.unit.keys.conftest import REGION


def test_deployment_key_round_trip_and_survives_a_restart(db, master, keys):
    data_key, wrapped = keys.store.new_data_key(DEPLOYMENT_KEY)
    assert len(data_key) == 32 and data_key not in wrapped
    assert keys.store.unwrap(DEPLOYMENT_KEY, wrapped) == data_key
    # Another node (or this one restarted) with the deployment's master key: same key.
    assert open_keys(db, master).store.unwrap(DEPLOYMENT_KEY, wrapped) == data_key


def test_the_deployment_key_is_made_once(db, master, keys):
    open_keys(db, master)
    KeyStore(db, master).ensure_deployment_key()
    with db.read() as tx:
        assert key_rows.key(tx, DEPLOYMENT_KEY).version == 1
        assert len(key_rows.key_versions(tx, DEPLOYMENT_KEY)) == 1


def test_another_master_key_opens_nothing(db, keys):
    _, wrapped = keys.store.new_data_key(DEPLOYMENT_KEY)
    with pytest.raises(MasterKeyError):
        KeyStore(db, MasterKey(b"\x01" * 32)).unwrap(DEPLOYMENT_KEY, wrapped)


def test_customer_key_round_trip_and_keys_do_not_open_each_other(keys, account):
    one = keys.service.create(account, REGION, "one")
    two = keys.service.create(account, REGION, "two")
    data_key, wrapped = keys.store.new_data_key(one.ref)
    assert keys.store.unwrap(one.ref, wrapped) == data_key
    with pytest.raises(KeyUnavailable) as caught:
        keys.store.unwrap(two.ref, wrapped)
    assert caught.value.arn == two.arn
    with pytest.raises(KeyUnavailable):
        keys.store.unwrap(DEPLOYMENT_KEY, wrapped)


def test_rotation_wraps_new_keys_with_the_new_version_and_keeps_old_ones(db, master, keys,
                                                                          account):
    key = keys.service.create(account, REGION)
    old_key, old_wrapped = keys.store.new_data_key(key.ref)
    rotated = keys.service.rotate(account, REGION, key.id)
    assert rotated.version == 2 and rotated.version_created_at >= key.version_created_at
    new_key, new_wrapped = keys.store.new_data_key(key.ref)
    assert old_wrapped[:5] != new_wrapped[:5]  # the version in the header moved on
    fresh = KeyStore(db, master)  # no cached data keys: both open from the versions
    assert fresh.unwrap(key.ref, old_wrapped) == old_key
    assert fresh.unwrap(key.ref, new_wrapped) == new_key


def test_disabled_key_refuses_until_enabled_even_cached_data_keys(keys, account):
    key = keys.service.create(account, REGION)
    data_key, wrapped = keys.store.new_data_key(key.ref)
    assert keys.store.unwrap(key.ref, wrapped) == data_key  # now in the LRU
    assert keys.service.set_enabled(account, REGION, key.arn, False).enabled is False
    for use in (lambda: keys.store.unwrap(key.ref, wrapped),
                lambda: keys.store.new_data_key(key.ref),
                lambda: keys.store.require_usable(key.ref)):
        with pytest.raises(KeyUnavailable) as caught:
            use()
        assert caught.value.arn == key.arn and caught.value.key_ref == key.ref
        assert key.arn in str(caught.value) and "disabled" in str(caught.value)
    keys.service.set_enabled(account, REGION, key.id, True)
    assert keys.store.unwrap(key.ref, wrapped) == data_key


def test_a_change_through_one_store_reaches_another_on_its_next_use(db, master, account):
    # Two nodes of one deployment: each with its own caches, one database.
    first, second = open_keys(db, master), open_keys(db, master)
    key = first.service.create(account, REGION)
    data_key, wrapped = first.store.new_data_key(key.ref)
    assert second.store.unwrap(key.ref, wrapped) == data_key  # cached state and data key
    first.service.set_enabled(account, REGION, key.id, False)
    with pytest.raises(KeyUnavailable):
        second.store.unwrap(key.ref, wrapped)
    first.service.set_enabled(account, REGION, key.id, True)
    assert second.store.unwrap(key.ref, wrapped) == data_key
    first.service.rotate(account, REGION, key.id)
    _, newer = first.store.new_data_key(key.ref)
    assert len(second.store.unwrap(key.ref, newer)) == 32


def test_unknown_and_malformed_key_refs_are_unavailable(keys):
    for ref in ("kms-00000000-0000-4000-8000-000000000000", "kms-nope", "", "AES256"):
        with pytest.raises(KeyUnavailable):
            keys.store.new_data_key(ref)


def test_garbage_wrapped_keys_are_unavailable_not_crashes(keys):
    for wrapped in (b"", b"\x01" * 65, b"x" * 500):
        with pytest.raises(KeyUnavailable):
            keys.store.unwrap(DEPLOYMENT_KEY, wrapped)


def test_the_data_key_cache_is_bounded(db, master):
    store = open_keys(db, master).store
    store._cache_size = 3
    wrapped = [store.new_data_key(DEPLOYMENT_KEY)[1] for _ in range(5)]
    opened = [store.unwrap(DEPLOYMENT_KEY, w) for w in wrapped]
    assert len(store._data_keys) == 3
    assert store.unwrap(DEPLOYMENT_KEY, wrapped[0]) == opened[0]  # evicted, opened again


def test_managed_keys_cannot_be_disabled(db, keys, account):
    with db.write() as tx:
        managed = keys.service.managed_default(tx, account, REGION)
    with pytest.raises(KeyUnsupported):
        keys.service.set_enabled(account, REGION, "alias/aws/ecr", False)
    assert keys.service.rotate(account, REGION, managed.id).version == 2
