"""Registries (an account's, in one region) over one database and one blob store: each keeps
its own repositories, tags, catalog and uploads; blob content is shared."""
import asyncio
import os

import pytest
from sqlalchemy import bindparam, func, select, update

from berth.registry.errors import BlobUnknown, BlobUploadUnknown, ManifestUnknown, NameUnknown
from berth.registry.references import Digest
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.schema import blobs, repositories
from tests.support.registry_images import push_image as _push_image
from tests.support.repositories import pushes_create


def run(coro):
    return asyncio.run(coro)


async def _body(*parts):
    for part in parts:
        yield part


@pytest.fixture
def other(registry):
    pushes_create(registry.db, 2)
    return registry.scoped(2)


def test_scoped_views(registry, other):
    assert registry.scoped(registry.registry_id) is registry
    assert other.registry_id == 2
    assert registry.scoped(2) is other
    assert other.scoped(2) is other
    third = other.scoped(3)
    assert registry.scoped(3) is third
    assert other.scoped(1).registry_id == 1 and other.scoped(1) is other.scoped(1)
    assert other.db is registry.db and other.driver is registry.driver
    assert other.uploads.hashers is registry.uploads.hashers
    for service in (other.repositories, other.blobs, other.uploads, other.manifests):
        assert service.registry_id == 2


def test_repositories_tags_and_catalogs_are_separate(registry, other):
    mine = _push_image(registry, "team/app", "v1", b"layer of registry one")
    theirs = _push_image(other, "team/app", "v2", b"layer of registry two")
    _push_image(registry, "only/mine", "latest", b"another layer")
    assert registry.repositories.catalog(None, None) == (["only/mine", "team/app"], False)
    assert other.repositories.catalog(None, None) == (["team/app"], False)
    assert registry.repositories.tags("team/app", None, None) == (["v1"], False)
    assert other.repositories.tags("team/app", None, None) == (["v2"], False)
    assert run(registry.manifests.fetch("team/app", "v1")).digest == str(mine)
    assert run(other.manifests.fetch("team/app", "v2")).digest == str(theirs)
    with pytest.raises(ManifestUnknown):
        run(other.manifests.fetch("team/app", "v1"))
    with pytest.raises(ManifestUnknown):
        run(other.manifests.fetch("team/app", str(mine)))
    with pytest.raises(NameUnknown):
        run(other.manifests.fetch("only/mine", "latest"))
    with pytest.raises(NameUnknown):
        other.repositories.tags("only/mine", None, None)
    with registry.db.read() as tx:
        assert repository_rows.get_id(tx, 1, "team/app") != repository_rows.get_id(
            tx, 2, "team/app")


def test_blobs_are_linked_per_registry_and_stored_once(registry, other):
    data = os.urandom(2048)
    digest = Digest.of(data)
    registry.uploads.put_small("team/app", digest, data)
    with pytest.raises(NameUnknown):
        other.blobs.stat("team/app", digest)
    other.uploads.start("team/app")  # the push's first write makes the repository ...
    with pytest.raises(BlobUnknown):  # ... without the other registry's blob
        other.blobs.stat("team/app", digest)
    run(other.uploads.upload_whole("team/app", digest, _body(data)))
    assert registry.blobs.stat("team/app", digest) == len(data)
    assert other.blobs.stat("team/app", digest) == len(data)
    with registry.db.read() as tx:
        assert tx.scalar(select(func.count().label("n")).select_from(blobs).where(
            blobs.c.digest == str(digest))) == 1
    stored = [p for p in registry.driver.root.rglob("*") if p.is_file()
              and p.read_bytes() == data]
    assert len(stored) == 1
    # Unlinking in one registry leaves the other's link alone.
    other.blobs.unlink("team/app", digest)
    with pytest.raises(BlobUnknown):
        other.blobs.stat("team/app", digest)
    assert registry.blobs.stat("team/app", digest) == len(data)


def test_mount_does_not_cross_registries(registry, other):
    data = b"mountable"
    registry.uploads.put_small("source", Digest.of(data), data)
    assert not other.blobs.mount("target", Digest.of(data), "source")
    assert registry.blobs.mount("target", Digest.of(data), "source")
    assert other.repositories.catalog(None, None) == ([], False)


def test_uploads_are_separate(registry, other):
    upload_id = registry.uploads.start("team/app")
    data = b"chunk"
    for attempt in (lambda: other.uploads.status("team/app", upload_id),
                    lambda: run(other.uploads.append("team/app", upload_id, _body(data))),
                    lambda: run(other.uploads.complete("team/app", upload_id, Digest.of(data),
                                                       _body(data))),
                    lambda: other.uploads.cancel("team/app", upload_id)):
        with pytest.raises(BlobUploadUnknown):
            attempt()
    # The upload is untouched in its own registry and completes there.
    assert registry.uploads.status("team/app", upload_id) == 0
    run(registry.uploads.complete("team/app", upload_id, Digest.of(data), _body(data)))
    assert registry.blobs.stat("team/app", Digest.of(data)) == len(data)
    with pytest.raises(NameUnknown):
        other.blobs.stat("team/app", Digest.of(data))


# -- the catalog's visibility filter ---------------------------------------------------------
def _create(registry, *names) -> None:
    with registry.db.write() as tx:
        for name in names:
            repository_rows.ensure(tx, registry.registry_id, name)


def test_visible_filter_hides_names_and_fills_pages(registry):
    _create(registry, "a", "b", "c", "d", "e", "f", "g")
    visible = {"a", "d", "g"}
    seen = []

    def can_see(name, policy):
        seen.append(name)
        return name in visible

    assert registry.repositories.catalog(2, None, can_see) == (["a", "d"], True)
    assert registry.repositories.catalog(2, "d", can_see) == (["g"], False)
    assert registry.repositories.catalog(3, None, can_see) == (["a", "d", "g"], False)
    assert registry.repositories.catalog(None, None, can_see) == (["a", "d", "g"], False)
    assert registry.repositories.catalog(1, "a", can_see) == (["d"], True)
    assert registry.repositories.catalog(2, "g", can_see) == ([], False)
    assert registry.repositories.catalog(2, None, lambda n, p: False) == ([], False)
    # Only hidden names after the page: no more to come.
    assert registry.repositories.catalog(2, None, lambda n, p: n in "ad") == (["a", "d"], False)
    assert set(seen) <= set("abcdefg")


def test_visible_filter_fills_pages_across_batches(registry):
    """Hidden names beyond one query's batch: the page is still filled."""
    names = [f"repo-{i:04d}" for i in range(250)]
    _create(registry, *names)
    visible = {names[0], names[150], names[240]}

    def can_see(name, policy):
        return name in visible

    assert registry.repositories.catalog(2, None, can_see) == ([names[0], names[150]], True)
    assert registry.repositories.catalog(2, names[150], can_see) == ([names[240]], False)
    assert registry.repositories.catalog(3, None, can_see) == (sorted(visible), False)
    assert registry.repositories.catalog(None, None, can_see) == (sorted(visible), False)


def test_visible_filter_gets_the_repository_policy(registry):
    _create(registry, "open", "closed")
    with registry.db.write() as tx:
        tx.execute(update(repositories).where(
            repositories.c.registry_id == bindparam("registry"),
            repositories.c.name == bindparam("name")).values(policy=bindparam("policy")),
            {"registry": registry.registry_id, "name": "open", "policy": '{"public": true}'})
    calls = []

    def can_see(name, policy):
        calls.append((name, policy))
        return policy is not None

    assert registry.repositories.catalog(10, None, can_see) == (["open"], False)
    assert sorted(calls) == [("closed", None), ("open", '{"public": true}')]


def test_catalog_without_filter_is_unchanged(registry, other):
    _create(registry, "x", "y", "z")
    _create(other, "w")
    assert registry.repositories.catalog(2, None) == (["x", "y"], True)
    assert registry.repositories.catalog(2, "y") == (["z"], False)
    assert other.repositories.catalog(2, None) == (["w"], False)
