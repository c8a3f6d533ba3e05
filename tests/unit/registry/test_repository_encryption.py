"""Encryption at rest in the domain, on SQLite and PostgreSQL, over the encrypting driver and
the real key store: which key a repository gets, that its blobs are stored under it and never
in plaintext, deduplication within one key, disabled keys refusing reads and pushes (and
nothing else), rotation, mounts between keys, and the upload paths (chunked, monolithic,
crash recovery)."""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.iam.identities import IdentityService
from berth.keys import Keys, open_keys
from berth.keys.master import MasterKey
from berth.registry.errors import BlobUnknown, BlobUploadUnknown, SettingInvalid
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.registry.repositories.encryption import Encryption, KmsKeyUnusable
from berth.registry.repositories.settings import RepositorySettings, RepositorySettingsService
from berth.storage.blobs import FilesystemDriver
from berth.storage.blobs.encrypted import EncryptedDriver
from berth.storage.blobs.keyring import KeyUnavailable, join_key
from berth.storage.metadata import migrate
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata import uploads as upload_rows
from berth.storage.metadata.database import Database
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create

REGION = "us-east-1"
LAYER = os.urandom(100_000)


@dataclass
class World:
    db: Database
    master: MasterKey
    keys: Keys
    account: str
    registry_id: int
    blobs: Path

    def registry(self, storage_encrypted: bool = False, keys: Keys | None = None) -> Registry:
        keys = keys or self.keys
        driver = EncryptedDriver(FilesystemDriver(self.blobs), keys.store)
        pushes_create(self.db, self.registry_id)
        return Registry.create(self.db, driver, 4 * 1024 * 1024, self.registry_id,
                               encryption=Encryption(keys, storage_encrypted))

    def settings(self, registry: Registry) -> RepositorySettingsService:
        return RepositorySettingsService(self.db, self.registry_id, registry.encryption)

    def kms_repository(self, registry: Registry, name: str, key: str | None = None):
        return self.settings(registry).create(
            name, RepositorySettings(encryption_type="KMS", kms_key=key))

    def stored(self) -> dict[str, bytes]:
        """Every committed blob file: key -> raw bytes."""
        root = self.blobs / "data"
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file()}


@pytest.fixture
def world(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    master = MasterKey(os.urandom(32))
    account = IdentityService(db, master).create_account("team").id
    with db.write() as tx:
        registry_id = registry_rows.ensure_registry(tx, account, REGION)
    yield World(db, master, open_keys(db, master), account, registry_id, tmp_path / "blobs")
    db.dispose()


def _read(registry: Registry, repository: str, data: bytes = LAYER) -> bytes:
    blob = registry.blobs.find(repository, Digest.of(data))
    return b"".join(registry.blobs.read(blob, 0, blob.size))


def _no_plaintext(world: World, data: bytes = LAYER) -> None:
    for key, raw in world.stored().items():
        assert data[:4096] not in raw, key


async def _body(data: bytes):
    yield data


# -- which key --------------------------------------------------------------------------------
def test_aes256_repositories_use_the_deployment_key_and_store_no_plaintext(world):
    registry = world.registry()
    made = world.settings(registry).create("team/made", RepositorySettings())
    push_image(registry, "team/pushed", "v1", LAYER)  # created by the push
    assert made.key_ref == "aes256" and made.settings.kms_key is None
    with world.db.read() as tx:
        assert repository_rows.find(tx, world.registry_id, "team/pushed").key_ref == "aes256"
    assert any(key.startswith("aes256/") for key in world.stored())
    _no_plaintext(world)
    assert _read(registry, "team/pushed") == LAYER


def test_with_storage_that_encrypts_aes256_repositories_are_stored_as_they_are(world):
    registry = world.registry(storage_encrypted=True)
    assert world.settings(registry).create("team/made", RepositorySettings()).key_ref == ""
    push_image(registry, "team/pushed", "v1", LAYER)
    assert world.stored()[Digest.of(LAYER).key] == LAYER  # no key ref: plain
    key = world.keys.service.create(world.account, REGION)
    push_image(registry, world.kms_repository(registry, "team/kms", key.id).name, "v1", LAYER)
    assert world.stored()[join_key(key.ref, Digest.of(LAYER).key)] != LAYER  # KMS: sealed


def test_kms_repositories_name_a_key_by_id_or_arn_and_show_its_arn(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    for name, spec in (("kms/by-id", key.id), ("kms/by-arn", key.arn)):
        made = world.kms_repository(registry, name, spec)
        assert made.key_ref == key.ref and made.settings.kms_key == key.arn
        assert world.settings(registry).get(name).settings.kms_key == key.arn


def test_kms_without_a_key_uses_the_accounts_managed_key_made_once(world):
    registry = world.registry()
    first = world.kms_repository(registry, "kms/one")
    second = world.kms_repository(registry, "kms/two", "alias/aws/ecr")
    [managed] = world.keys.service.list(world.account)
    assert managed.managed and first.key_ref == second.key_ref == managed.ref
    assert first.settings.kms_key == managed.arn


def test_keys_that_cannot_be_used_make_no_repository(world):
    registry = world.registry()
    other = IdentityService(world.db, world.master).create_account("other").id
    theirs = world.keys.service.create(other, REGION)
    disabled = world.keys.service.create(world.account, REGION)
    world.keys.service.set_enabled(world.account, REGION, disabled.id, False)
    elsewhere = world.keys.service.create(world.account, "eu-west-1")
    cases = [("00000000-0000-4000-8000-000000000000", KmsKeyUnusable, "NotFoundException"),
             (theirs.id, KmsKeyUnusable, "NotFoundException"),
             (theirs.arn, KmsKeyUnusable, "NotFoundException"),
             ("alias/mine", KmsKeyUnusable, "NotFoundException"),
             (disabled.arn, KmsKeyUnusable, "DisabledException"),
             (elsewhere.arn, SettingInvalid, None)]
    for spec, error, kms_error in cases:
        with pytest.raises(error) as caught:
            world.kms_repository(registry, "kms/refused", spec)
        if kms_error:
            assert caught.value.kms_error == kms_error, spec
    assert world.settings(registry).page(None, 10) == ([], None)


def test_without_a_key_store_kms_is_refused():
    # Encryption() is what services built without one get (unit tests of other parts).
    with pytest.raises(SettingInvalid):
        Encryption().choose(None, 1, "KMS", None)
    assert Encryption().choose(None, 1, "AES256", None) == ("aes256", None)


# -- storage and deduplication ------------------------------------------------------------------
def test_one_layer_is_stored_once_per_key(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    world.kms_repository(registry, "kms/app", key.id)
    for repo in ("aes/one", "aes/two", "kms/app"):
        push_image(registry, repo, "v1", LAYER)
    digest_key = Digest.of(LAYER).key
    layer_files = sorted(k for k in world.stored() if k.endswith(digest_key))
    assert layer_files == sorted([join_key("aes256", digest_key),
                                  join_key(key.ref, digest_key)])
    _no_plaintext(world)
    for repo in ("aes/one", "aes/two", "kms/app"):
        assert _read(registry, repo) == LAYER


def test_chunked_and_monolithic_uploads_are_sealed_as_written(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    world.kms_repository(registry, "kms/app", key.id)
    big = os.urandom(2 * 1024 * 1024 + 5)  # past the small-blob path
    uploads = registry.uploads
    upload_id = uploads.start("kms/app")
    asyncio.run(uploads.append("kms/app", upload_id, _body(big[:1_500_000])))
    for path in (world.blobs / "uploads").rglob("*"):
        if path.is_file():
            assert big[:4096] not in path.read_bytes()
    asyncio.run(uploads.complete("kms/app", upload_id, Digest.of(big), _body(big[1_500_000:])))
    other = os.urandom(2 * 1024 * 1024)
    asyncio.run(uploads.upload_whole("kms/app", Digest.of(other), _body(other)))
    _no_plaintext(world, big)
    _no_plaintext(world, other)
    assert _read(registry, "kms/app", big) == big
    assert _read(registry, "kms/app", other) == other


def test_a_completion_after_a_crash_finds_the_sealed_blob_under_its_key(world):
    registry = world.registry()
    uploads = registry.uploads
    upload_id = uploads.start("team/app")
    asyncio.run(uploads.append("team/app", upload_id, _body(LAYER)))
    with world.db.read() as tx:
        state = json.loads(upload_rows.find(tx, upload_id).driver_state)
    digest = Digest.of(LAYER)
    # The process died right after the driver committed the blob under its key.
    registry.driver.upload_commit(upload_id, state, len(LAYER), join_key("aes256", digest.key))
    uploads.hashers.discard(upload_id)
    asyncio.run(uploads.complete("team/app", upload_id, digest))
    assert _read(registry, "team/app") == LAYER


def test_blobs_stored_before_encryption_stay_readable(world):
    registry = world.registry()
    with world.db.write() as tx:  # a repository from before migration 0005: key ref ""
        repository_rows.ensure(tx, world.registry_id, "old/app", "")
    push_image(registry, "old/app", "v1", LAYER)
    assert world.stored()[Digest.of(LAYER).key] == LAYER
    assert _read(registry, "old/app") == LAYER


# -- disabled keys and rotation -------------------------------------------------------------------
def test_a_disabled_key_refuses_its_repositorys_reads_and_pushes_only(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    world.kms_repository(registry, "kms/app", key.id)
    push_image(registry, "kms/app", "v1", LAYER)
    push_image(registry, "aes/app", "v1", LAYER)
    upload_id = registry.uploads.start("kms/app")
    asyncio.run(registry.uploads.append("kms/app", upload_id, _body(b"half")))
    world.keys.service.set_enabled(world.account, REGION, key.id, False)

    blob = registry.blobs.find("kms/app", Digest.of(LAYER))  # metadata stays readable
    refusals = [lambda: registry.blobs.read(blob, 0, blob.size),
                lambda: registry.blobs.read(blob, 0, 0),
                lambda: registry.blobs.find_readable("kms/app", blob.digest),
                lambda: registry.uploads.start("kms/app"),
                lambda: registry.uploads.put_small("kms/app", Digest.of(b"new"), b"new"),
                lambda: asyncio.run(registry.uploads.complete(
                    "kms/app", upload_id, Digest.of(b"half")))]
    for refused in refusals:
        with pytest.raises(KeyUnavailable) as caught:
            refused()
        assert caught.value.arn == key.arn and "disabled" in str(caught.value)
    assert _read(registry, "aes/app") == LAYER  # other repositories: untouched
    push_image(registry, "aes/app", "v2", b"more")

    world.keys.service.set_enabled(world.account, REGION, key.id, True)
    assert _read(registry, "kms/app") == LAYER
    asyncio.run(registry.uploads.complete("kms/app", upload_id, Digest.of(b"half")))


def test_after_rotation_old_and_new_blobs_read(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    world.kms_repository(registry, "kms/app", key.id)
    push_image(registry, "kms/app", "old", LAYER)
    world.keys.service.rotate(world.account, REGION, key.arn)
    newer = os.urandom(50_000)
    push_image(registry, "kms/app", "new", newer)
    fresh = world.registry(keys=open_keys(world.db, world.master))  # another node
    assert _read(fresh, "kms/app") == LAYER
    assert _read(fresh, "kms/app", newer) == newer


# -- mounts ----------------------------------------------------------------------------------------
def test_mounts_only_within_one_key(world):
    registry = world.registry()
    key = world.keys.service.create(world.account, REGION)
    world.kms_repository(registry, "kms/app", key.id)
    push_image(registry, "aes/source", "v1", LAYER)
    digest = Digest.of(LAYER)
    assert registry.blobs.mount("aes/target", digest, "aes/source")
    assert _read(registry, "aes/target") == LAYER
    assert not registry.blobs.mount("kms/app", digest, "aes/source")
    with pytest.raises(BlobUnknown):  # not linked: the client uploads it under its key
        registry.blobs.find("kms/app", digest)
    with world.db.write() as tx:
        repository_rows.ensure(tx, world.registry_id, "old/plain", "")
    assert not registry.blobs.mount("old/plain", digest, "aes/source")
    push_image(registry, "kms/app", "v1", LAYER)
    assert not registry.blobs.mount("aes/other", digest, "kms/app")


def test_an_upload_into_a_repository_made_again_with_another_key_fails_cleanly(world):
    registry = world.registry()
    upload_id = registry.uploads.start("team/app")  # makes it with the deployment key
    asyncio.run(registry.uploads.append("team/app", upload_id, _body(LAYER)))
    key = world.keys.service.create(world.account, REGION)
    world.settings(registry).delete("team/app")  # which ends its uploads
    world.kms_repository(registry, "team/app", key.id)
    with pytest.raises(BlobUploadUnknown):
        asyncio.run(registry.uploads.complete("team/app", upload_id, Digest.of(LAYER)))
    with pytest.raises(BlobUnknown):
        registry.blobs.find("team/app", Digest.of(LAYER))
