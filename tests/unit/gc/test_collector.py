"""Garbage collection over a real metadata database (SQLite and PostgreSQL) and files."""
import os
import time

import pytest

from berth.events import Outbox
from berth.gc import subscriber
from berth.gc.collector import object_key, parse_key
from berth.registry.errors import BlobUploadUnknown, ManifestBlobUnknown, RepositoryNotEmpty
from berth.registry.references import Digest
from berth.registry.repositories.settings import RepositorySettingsService
from berth.storage.blobs.keyring import DEPLOYMENT_KEY
from berth.storage.metadata import garbage
from berth.storage.metadata.schema import manifest_references
from berth.registry.repositories.encryption import Encryption

from .conftest import GRACE, push_blob, push_image, stored_keys
from tests.support.repositories import make_repository

LAYER, SHARED, OTHER = b"layer" * 100, b"shared" * 100, b"other" * 100


def later(seconds: float = GRACE + 1) -> float:
    return time.time() + seconds


def deliver(registry) -> None:
    Outbox(registry.db).deliver(subscriber.subscriber())


def key(data: bytes) -> str:
    """Where the registry stores a blob of a repository made on push (the deployment key)."""
    return f"{DEPLOYMENT_KEY}/{Digest.of(data).key}"


def test_nothing_referenced_is_ever_collected(registry, collector):
    push_image(registry, "app", "v1", LAYER, SHARED)
    before = stored_keys(registry)
    for report in (collector.sweep(), collector.sweep(now=later()),
                   collector.sweep(now=later(10 * GRACE))):
        assert report.objects_deleted == report.links_unlinked == 0
    assert stored_keys(registry) == before and len(before) == 3


def test_deleted_image_frees_its_blobs_after_the_grace_period(registry, collector):
    digest = push_image(registry, "app", "v1", LAYER)
    push_image(registry, "app", "v2", SHARED, config=b'{"v": 2}')
    registry.manifests.delete("app", digest)
    deliver(registry)  # the deletion starts the grace period now
    assert collector.sweep().objects_deleted == 0  # still within it
    dry = collector.sweep(dry_run=True, now=later())
    report = collector.sweep(now=later())
    assert (report.links_unlinked, report.objects_deleted) == (2, 2)  # layer + config {}
    assert report.bytes_freed == len(LAYER) + 2
    assert (dry.links_unlinked, dry.objects_deleted, dry.bytes_freed) == (
        2, 2, report.bytes_freed)
    assert stored_keys(registry) == {key(SHARED), key(b'{"v": 2}')}
    assert collector.sweep(now=later()).objects_deleted == 0


def test_deleting_an_image_starts_the_wait_of_its_links_at_once(registry, collector):
    """No event delivery needed for links: the deletion marks them; a sweep before the
    grace period ends leaves them."""
    digest = push_image(registry, "app", "v1", LAYER)
    collector.sweep(now=later(5 * GRACE))  # long after the push: links held by the image
    registry.manifests.delete("app", digest)
    assert collector.sweep(now=later(GRACE / 2)).links_unlinked == 0
    assert collector.sweep(now=later()).objects_deleted == 2


def test_a_sweep_notices_links_nothing_marked(registry, collector):
    push_image(registry, "app", "v1", LAYER)
    with registry.db.write() as tx:  # as rows from before garbage collection existed
        tx.execute(garbage.L.update().values(unreferenced_since=None))
        tx.execute(manifest_references.delete())
    assert collector.sweep(now=later()).links_unlinked == 0  # marked now, not before
    assert collector.sweep(now=later(2 * GRACE + 2)).objects_deleted == 2


def test_one_sweep_at_a_time(registry, collector):
    with registry.db.try_lock("gc-sweep") as held:
        assert held
        assert collector.sweep().skipped
    assert not collector.sweep().skipped


def test_a_layer_another_repository_links_stays(registry, collector):
    digest = push_image(registry, "app", "v1", SHARED)
    push_image(registry, "lib", "v1", SHARED)
    registry.manifests.delete("app", digest)
    deliver(registry)
    report = collector.sweep(now=later())
    assert report.links_unlinked == 2 and report.objects_deleted == 0
    assert b"".join(registry.blobs.read(registry.blobs.find("lib", Digest.of(SHARED)), 0,
                                        len(SHARED))) == SHARED


def test_deleted_repository_frees_everything_it_alone_held(registry, collector):
    push_image(registry, "app", "v1", LAYER, SHARED)
    push_image(registry, "lib", "v1", SHARED)
    service = RepositorySettingsService(registry.db, registry.registry_id)
    with pytest.raises(RepositoryNotEmpty):
        service.delete("app")
    service.delete("app", force=True)
    deliver(registry)
    report = collector.sweep(now=later())
    assert report.objects_deleted == 1 and report.bytes_freed == len(LAYER)
    assert key(LAYER) not in stored_keys(registry) and key(SHARED) in stored_keys(registry)


def test_blob_deleted_through_the_registry_api_is_freed(registry, collector):
    push_blob(registry, "app", OTHER)
    registry.blobs.unlink("app", Digest.of(OTHER))
    deliver(registry)
    assert collector.sweep(now=later()).objects_deleted == 1
    assert stored_keys(registry) == set()


def test_a_blob_pushed_without_a_manifest_waits_the_grace_period(registry, collector):
    push_blob(registry, "app", OTHER)
    assert collector.sweep().links_unlinked == 0
    assert collector.sweep(now=later(GRACE / 2)).links_unlinked == 0
    report = collector.sweep(now=later())
    assert (report.links_unlinked, report.objects_deleted) == (1, 1)


def test_asking_for_a_waiting_blob_restarts_its_wait(registry, collector):
    """A client that HEADs a layer before pushing the manifest listing it keeps it."""
    push_blob(registry, "app", OTHER)
    with registry.db.write() as tx:
        tx.execute(garbage.L.update().values(unreferenced_since=time.time() - GRACE * 0.9))
    registry.blobs.find("app", Digest.of(OTHER))
    assert collector.sweep(now=time.time() + GRACE * 0.5).links_unlinked == 0


def test_manifest_push_after_the_layer_was_collected_fails_cleanly(registry, collector):
    layer = push_blob(registry, "app", OTHER)
    push_blob(registry, "app", b"{}")
    collector.sweep(now=later())
    assert stored_keys(registry) == set()
    with pytest.raises(ManifestBlobUnknown):
        registry.manifests.put(
            "app", "v1", _manifest(layer), "application/vnd.oci.image.manifest.v1+json")


def _manifest(layer: dict) -> bytes:
    import json
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": str(Digest.of(b"{}")), "size": 2}
    return json.dumps({"schemaVersion": 2, "mediaType":
                       "application/vnd.oci.image.manifest.v1+json", "config": config,
                       "layers": [layer]}).encode()


def test_pushing_a_collected_blob_again_stores_it_again(registry, collector):
    digest = push_image(registry, "app", "v1", LAYER)
    registry.manifests.delete("app", digest)
    deliver(registry)
    collector.sweep(now=later())
    assert stored_keys(registry) == set()
    push_image(registry, "app", "v1", LAYER)
    blob = registry.blobs.find("app", Digest.of(LAYER))
    assert b"".join(registry.blobs.read(blob, 0, len(LAYER))) == LAYER


def test_a_push_pinned_longer_ago_than_the_grace_refuses_to_link(registry, collector):
    """The guard behind a stalled push: bytes a collector may have deleted are never linked."""
    digest = Digest.of(OTHER)
    with registry.db.write() as tx:
        make_repository(tx, registry.registry_id, "app", Encryption(storage_encrypted=True))
    registry.uploads._store(digest, len(OTHER), "", lambda k: registry.driver.put(k, OTHER))
    with registry.db.write() as tx:
        tx.execute(garbage.O.update().values(unreferenced_since=time.time() - GRACE - 1))
    with pytest.raises(BlobUploadUnknown):
        registry.uploads._record("app", digest, len(OTHER), "")


def test_storage_objects_no_row_knows_are_adopted_and_collected(registry, collector, tmp_path):
    push_image(registry, "app", "v1", LAYER)
    stray = Digest.of(b"stray")
    old = Digest.of(b"old stray")
    registry.driver.put(stray.key, b"stray")
    registry.driver.put(old.key, b"old stray")
    registry.driver.put("not/a/blob", b"x")
    past = time.time() - GRACE - 10
    path = tmp_path / "blobs" / "data" / old.key
    os.utime(path, (past, past))
    os.utime(path.parent, (past, past))
    report = collector.sweep()
    # ctime is now for both (utime changes it): neither is old enough yet.
    assert report.orphans_found == 0
    report = collector.sweep(now=later())
    assert report.orphans_found == 3 - 1  # the two blob keys, not "not/a/blob"
    assert report.objects_deleted == 2
    assert stored_keys(registry) == {key(LAYER), key(b"{}"), "not/a/blob"}


def test_dry_run_changes_nothing(registry, collector):
    digest = push_image(registry, "app", "v1", LAYER)
    registry.manifests.delete("app", digest)
    deliver(registry)
    before = stored_keys(registry)
    dry = collector.sweep(dry_run=True, now=later())
    assert (dry.links_unlinked, dry.objects_deleted) == (2, 2)
    assert stored_keys(registry) == before
    assert collector.sweep(dry_run=True, now=later()).as_dict() | {"seconds": 0} == (
        dry.as_dict() | {"seconds": 0})


def test_a_sweep_killed_after_deleting_bytes_leaves_rows_the_next_one_finishes(
        registry, collector, monkeypatch):
    digest = push_image(registry, "app", "v1", LAYER)
    registry.manifests.delete("app", digest)
    deliver(registry)
    real_delete = registry.driver.delete

    def delete_then_die(key):
        real_delete(key)
        raise SystemExit("killed")  # the transaction rolls back: rows stay, bytes are gone

    monkeypatch.setattr(registry.driver, "delete", delete_then_die)
    with pytest.raises(SystemExit):
        collector.sweep(now=later())
    monkeypatch.setattr(registry.driver, "delete", real_delete)
    # A push of the same layer now finds the row but not the bytes: it writes them again.
    push_image(registry, "lib", "v1", LAYER)
    blob = registry.blobs.find("lib", Digest.of(LAYER))
    assert b"".join(registry.blobs.read(blob, 0, len(LAYER))) == LAYER
    collector.sweep(now=later())
    assert key(LAYER) in stored_keys(registry)
    blob = registry.blobs.find("lib", Digest.of(LAYER))
    assert b"".join(registry.blobs.read(blob, 0, len(LAYER))) == LAYER


def test_keys_round_trip():
    digest = str(Digest.of(b"x"))
    assert parse_key(object_key("aes256", digest)) == ("aes256", digest)
    assert parse_key(object_key("", digest)) == ("", digest)
    for bad in ("sha256/zz/abc", "sha256/ab", "md5/ab/abcd", "aes256/sha256/ab/xyz"):
        assert parse_key(bad) is None
