"""Pushes, deletions and the garbage collector racing for the same rows, one interleaving at
a time (berth.gc describes the protocol these tests hold the code to).

Each test pauses one operation inside its write transaction at a chosen point (a ``Gate``
around a function it calls there), starts the other and makes sure that it waits -- on
PostgreSQL a session of the test's database waiting on a lock (pg_stat_activity); on SQLite,
which runs one writer at a time, the writer lock -- or, where SKIP LOCKED must pass a held
row by, that it finishes without waiting; then lets the first go on. Afterwards the outcomes
must be ones the protocol allows (of two operations that cannot both succeed, at most one
did, and the other failed with the registry's error -- a database error, a deadlock above
all, fails the test) and the metadata must be consistent: no manifest lists a missing blob
link or child manifest, no tag names a missing manifest, no link names an object whose row
or bytes are gone.

Every test runs on both databases: on SQLite the second operation waits for the first to
commit, so the same invariant holds with the serial outcome, which the tests spell out where
it differs from PostgreSQL's."""
from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from sqlalchemy import text

from berth.gc.collector import object_key
from berth.registry.errors import (
    BlobReferenced,
    BlobUploadUnknown,
    ManifestBlobUnknown,
    ManifestReferenced,
)
from berth.registry.references import Digest
from berth.storage.metadata import blobs as blob_rows
from berth.storage.metadata import garbage
from berth.storage.metadata import manifests as manifest_rows

from .conftest import GRACE, OCI_MANIFEST, push_blob

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TIMEOUT = 10.0  # a join longer than this is a hang (PostgreSQL reports a deadlock in ~1 s)
LAYER, OTHER = b"layer" * 100, b"other" * 100
LOCK_ORDER = (
    "Lock order: a manifest put holds the links it lists (blob_rows.hold_links, FOR SHARE) "
    "before it touches the manifest row (insert_new: INSERT ON CONFLICT, then FOR SHARE) and "
    "the tag row (tags.put: upsert); an image deletion locks the manifest row "
    "(get_for_delete, FOR UPDATE), deletes its tag rows and the manifest, and only then "
    "updates the links (blob_rows.mark_unlisted) -- the reverse order.")


# -- machinery -------------------------------------------------------------------------------

class Gate:
    """Pauses the first call of ``module.name`` -- before the original runs, or after it --
    until ``open``: the caller then sits inside its transaction with what it locked so far."""

    def __init__(self, monkeypatch, module, name: str, after: bool):
        original = getattr(module, name)
        self.where = f"{'after' if after else 'before'} {module.__name__}.{name}"
        self.reached, self.released = threading.Event(), threading.Event()
        self._first = threading.Lock()

        def gated(*args, **kwargs):
            if not after:
                self._pause()
            result = original(*args, **kwargs)
            if after:
                self._pause()
            return result

        monkeypatch.setattr(module, name, gated)

    def _pause(self) -> None:
        if self._first.acquire(blocking=False):
            self.reached.set()
            if not self.released.wait(TIMEOUT):
                raise TimeoutError(f"the gate {self.where} was never opened")

    def open(self) -> None:
        self.released.set()


class Op(threading.Thread):
    """One registry or collector operation in a thread of its own, its result or error kept."""

    def __init__(self, name: str, fn):
        super().__init__(name=name, daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 -- judged by the test
            self.error = exc

    @property
    def ok(self) -> bool:
        return not self.is_alive() and self.error is None

    def __str__(self) -> str:
        if self.is_alive():
            return f"{self.name}: still running"
        if self.error is not None:
            return f"{self.name}: {type(self.error).__name__}: {self.error}"
        return f"{self.name}: ok ({self.result!r})"


class Race:
    def __init__(self, registry, database_url: str, monkeypatch):
        self.registry = registry
        self.url = database_url
        self.pg = not database_url.startswith("sqlite")
        self.monkeypatch = monkeypatch
        self.gates: list[Gate] = []
        self.ops: list[Op] = []

    def gate(self, module, name: str, after: bool = True) -> Gate:
        gate = Gate(self.monkeypatch, module, name, after)
        self.gates.append(gate)
        return gate

    def start(self, name: str, fn) -> Op:
        op = Op(name, fn)
        self.ops.append(op)
        op.start()
        return op

    def first(self, name: str, fn, gate: Gate) -> Op:
        """Start ``fn`` and wait until it is paused at ``gate``."""
        op = self.start(name, fn)
        deadline = time.monotonic() + TIMEOUT
        while not gate.reached.wait(0.01):
            assert op.is_alive(), f"{op} before reaching the gate {gate.where}"
            assert time.monotonic() < deadline, f"{op.name} never reached {gate.where}"
        return op

    def waits(self, op: Op) -> None:
        """``op`` is blocked: on a row lock (PostgreSQL) or on the writer lock (SQLite)."""
        if not self.pg:
            op.join(0.3)
            assert op.is_alive(), f"{op} instead of waiting for the paused writer"
            return
        deadline = time.monotonic() + 5
        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'").fetchone()[0]
                if waiting:
                    return
                assert op.is_alive(), f"{op} instead of waiting on a lock"
                time.sleep(0.01)
        pytest.fail(f"{op.name} neither finished nor waited on a lock within 5 s")

    def passes(self, op: Op) -> None:
        """On PostgreSQL ``op`` finishes while the other is paused (SKIP LOCKED passes the
        held row by); on SQLite it waits for the writer."""
        if not self.pg:
            self.waits(op)
            return
        op.join(TIMEOUT)
        assert not op.is_alive(), f"{op.name} waited for the paused transaction"

    def settle(self, *ops: Op, story: str) -> None:
        """Open every gate, wait for everything; a hang or a deadlock fails the test."""
        for gate in self.gates:
            gate.open()
        for op in ops:
            op.join(TIMEOUT)
        stuck = [str(op) for op in ops if op.is_alive()]
        assert not stuck, f"hung ({story}): {stuck}"
        deadlocked = [op for op in ops if isinstance(op.error, psycopg.errors.DeadlockDetected)]
        if deadlocked:
            assert_consistent(self.registry)  # losing data would be the worse failure
            pytest.fail(f"DEADLOCK ({story}): PostgreSQL aborted {deadlocked[0].name} "
                        f"({deadlocked[0].error}); outcomes: {[str(op) for op in ops]}. "
                        "The metadata stayed consistent, but the client got a database "
                        f"error. {LOCK_ORDER}", pytrace=False)

    def close(self) -> None:
        for gate in self.gates:
            gate.open()
        for op in self.ops:
            op.join(TIMEOUT)


@pytest.fixture
def race(registry, database_url, monkeypatch):
    race = Race(registry, database_url, monkeypatch)
    yield race
    race.close()


def query(registry, sql: str) -> list:
    with registry.db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql)).fetchall()]


def assert_consistent(registry) -> None:
    """No acknowledged manifest references missing content; no tag names a missing manifest;
    every link names an object that has its row and its bytes."""
    dangling = query(registry,
        "SELECT r.parent_digest, r.child_digest, r.kind FROM manifest_references r"
        " WHERE (r.kind = 'blob' AND NOT EXISTS (SELECT 1 FROM repository_blobs l"
        "   WHERE l.repository_id = r.repository_id AND l.digest = r.child_digest))"
        " OR (r.kind = 'manifest' AND NOT EXISTS (SELECT 1 FROM manifests m"
        "   WHERE m.repository_id = r.repository_id AND m.digest = r.child_digest))")
    assert not dangling, f"manifests list missing content: {dangling}"
    orphan_tags = query(registry,
        "SELECT t.name, t.digest FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m"
        " WHERE m.repository_id = t.repository_id AND m.digest = t.digest)")
    assert not orphan_tags, f"tags name missing manifests: {orphan_tags}"
    unrecorded = query(registry,
        "SELECT r.name, l.digest FROM repository_blobs l"
        " JOIN repositories r ON r.id = l.repository_id WHERE NOT EXISTS (SELECT 1"
        " FROM blobs b WHERE b.digest = l.digest AND b.key_ref = r.key_ref)")
    assert not unrecorded, f"links without an object row: {unrecorded}"
    for key_ref, digest in query(registry,
            "SELECT DISTINCT r.key_ref, l.digest FROM repository_blobs l"
            " JOIN repositories r ON r.id = l.repository_id"):
        assert registry.driver.stat(object_key(key_ref, digest)) is not None, (
            f"link to {digest} whose bytes are gone")


def image(registry, repository: str, *layers: bytes, config: bytes = b"{}"
          ) -> tuple[bytes, str]:
    """Push an image's blobs (not its manifest); the manifest's body and digest."""
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {**push_blob(registry, repository, config),
                           "mediaType": "application/vnd.oci.image.config.v1+json"},
                "layers": [push_blob(registry, repository, layer) for layer in layers]}
    body = json.dumps(manifest).encode()
    return body, str(Digest.of(body))


def index(*children: tuple[bytes, str]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
        for body, digest in children]}).encode()


def tags_of(registry) -> dict[str, str]:
    return dict(query(registry, "SELECT name, digest FROM tags"))


def manifests_of(registry) -> set[str]:
    return {digest for digest, in query(registry, "SELECT digest FROM manifests")}


def links_of(registry) -> set[str]:
    return {digest for digest, in query(registry, "SELECT digest FROM repository_blobs")}


def later() -> float:
    return time.time() + GRACE + 1


# -- 1. deleting a blob while a manifest listing it is put ----------------------------------

def test_blob_delete_waits_for_a_put_holding_the_blob_and_is_refused(race, registry):
    body, digest = image(registry, "app", LAYER)
    gate = race.gate(blob_rows, "hold_links")
    put = race.first("manifest put", lambda: registry.manifests.put(
        "app", "v1", body, OCI_MANIFEST), gate)
    unlink = race.start("blob delete", lambda: registry.blobs.unlink("app", Digest.of(LAYER)))
    race.waits(unlink)  # its DELETE waits for the put's shared lock on the link
    race.settle(put, unlink, story="put holds the links, then DELETE of a blob it lists")
    assert put.ok, put
    assert isinstance(unlink.error, BlobReferenced), unlink
    assert str(Digest.of(LAYER)) in links_of(registry)
    assert_consistent(registry)


@pytest.mark.parametrize("pause", ["unlink", "referencing_manifest"])
def test_put_waits_for_a_blob_delete_and_fails_cleanly(race, registry, pause):
    """The delete paused with its link row deleted (and, second case, the check that no
    manifest lists it done): the put's shared lock waits, then finds the row gone."""
    body, digest = image(registry, "app", LAYER)
    gate = race.gate(blob_rows, pause)
    unlink = race.first("blob delete", lambda: registry.blobs.unlink(
        "app", Digest.of(LAYER)), gate)
    put = race.start("manifest put", lambda: registry.manifests.put(
        "app", "v1", body, OCI_MANIFEST))
    race.waits(put)
    race.settle(unlink, put, story=f"DELETE of a blob paused after {pause}, then a put")
    assert unlink.ok, unlink
    assert isinstance(put.error, ManifestBlobUnknown), put
    assert put.error.digests == [str(Digest.of(LAYER))]
    assert manifests_of(registry) == set() and tags_of(registry) == {}
    assert_consistent(registry)


# -- 2. putting an index while one of its children is deleted ------------------------------

def test_child_delete_waits_for_an_index_put_holding_it_and_is_refused(race, registry):
    child = image(registry, "app", LAYER)
    registry.manifests.put("app", None, child[0], OCI_MANIFEST)
    gate = race.gate(manifest_rows, "sizes")
    put = race.first("index put", lambda: registry.manifests.put(
        "app", "multi", index(child), OCI_INDEX), gate)
    delete = race.start("child delete", lambda: registry.manifests.delete("app", child[1]))
    race.waits(delete)  # its FOR UPDATE waits for the index put's FOR SHARE
    race.settle(put, delete, story="index put holds its child, then the child's deletion")
    assert put.ok, put
    assert isinstance(delete.error, ManifestReferenced), delete
    assert child[1] in manifests_of(registry)
    assert_consistent(registry)


@pytest.mark.parametrize("pause", ["get_for_delete", "parent_of"])
def test_index_put_waits_for_a_child_delete_and_fails_cleanly(race, registry, pause):
    """The deletion paused with the child locked (and, second case, its check that no index
    lists it done): the index put's shared lock waits, then finds the child gone."""
    child = image(registry, "app", LAYER)
    registry.manifests.put("app", None, child[0], OCI_MANIFEST)
    gate = race.gate(manifest_rows, pause)
    delete = race.first("child delete", lambda: registry.manifests.delete(
        "app", child[1]), gate)
    put = race.start("index put", lambda: registry.manifests.put(
        "app", "multi", index(child), OCI_INDEX))
    race.waits(put)
    race.settle(delete, put, story=f"child deletion paused after {pause}, then an index put")
    assert delete.ok, delete
    assert isinstance(put.error, ManifestBlobUnknown) and put.error.children, put
    assert manifests_of(registry) == set() and tags_of(registry) == {}
    assert_consistent(registry)


# -- 3. re-putting a stored manifest with a tag while it is deleted ------------------------

def test_reput_holding_the_manifest_then_its_deletion(race, registry):
    """The re-put holds the stored row (insert_new found it): the deletion waits, then
    deletes the manifest with the tag the re-put just gave it."""
    body, digest = image(registry, "app", LAYER)
    registry.manifests.put("app", None, body, OCI_MANIFEST)
    gate = race.gate(manifest_rows, "insert_new")
    put = race.first("re-put with a tag", lambda: registry.manifests.put(
        "app", "t", body, OCI_MANIFEST), gate)
    delete = race.start("manifest delete", lambda: registry.manifests.delete("app", digest))
    race.waits(delete)
    race.settle(put, delete, story="re-put holds the manifest, then its deletion")
    assert put.ok and not put.result.created, put
    assert delete.ok, delete
    assert manifests_of(registry) == set() and tags_of(registry) == {}
    assert_consistent(registry)


REPUT_INTERLEAVINGS = {
    # (which goes first, the module and function it pauses after)
    "re-put holds the links, then the deletion": ("put", blob_rows, "hold_links"),
    "deletion locked the manifest, then the re-put": ("delete", manifest_rows,
                                                      "get_for_delete"),
    "deletion removed the manifest, then the re-put": ("delete", manifest_rows, "remove"),
}


@pytest.mark.parametrize("story", list(REPUT_INTERLEAVINGS))
def test_reput_with_a_tag_and_a_deletion_of_the_manifest(race, registry, story):
    """Whichever commits first, the tag never names a missing manifest and neither
    operation fails: a re-put after the deletion stores the manifest again."""
    first, module, pause = REPUT_INTERLEAVINGS[story]
    body, digest = image(registry, "app", LAYER)
    registry.manifests.put("app", None, body, OCI_MANIFEST)
    gate = race.gate(module, pause)
    do_put = lambda: registry.manifests.put("app", "t", body, OCI_MANIFEST)  # noqa: E731
    do_delete = lambda: registry.manifests.delete("app", digest)  # noqa: E731
    if first == "put":
        put = race.first("re-put with a tag", do_put, gate)
        delete = race.start("manifest delete", do_delete)
        race.waits(delete)
    else:
        delete = race.first("manifest delete", do_delete, gate)
        put = race.start("re-put with a tag", do_put)
        race.waits(put)
    race.settle(put, delete, story=story)
    assert put.ok, put
    assert delete.ok, delete
    assert_consistent(registry)
    if first == "put" and registry.db.is_sqlite:  # one writer: the deletion went last
        assert manifests_of(registry) == set() and tags_of(registry) == {}
        return
    # On PostgreSQL holding the links does not hold the manifest: the deletion (which takes
    # links only in a transaction after its own, for the lock order) commits first there
    # too, and the re-put, going last, stores the manifest again with its tag.
    assert put.result.created
    assert tags_of(registry) == {"t": digest} and manifests_of(registry) == {digest}


TAG_MOVE_INTERLEAVINGS = {
    "new image's put holds the shared layer, then the old image's deletion": (
        "put", blob_rows, "hold_links"),
    "old image's deletion locked it, then the put moving its tag": (
        "delete", manifest_rows, "get_for_delete"),
    "old image's deletion removed it and its tag, then the put moving the tag": (
        "delete", manifest_rows, "remove"),
}


@pytest.mark.parametrize("story", list(TAG_MOVE_INTERLEAVINGS))
def test_tag_moved_to_a_new_image_while_the_old_one_is_deleted(race, registry, story):
    """``latest`` moves to a new build sharing a layer with the old one while the old one is
    deleted by digest: both must succeed, the tag naming the new image."""
    first, module, pause = TAG_MOVE_INTERLEAVINGS[story]
    old_body, old = image(registry, "app", LAYER, config=b'{"v": 1}')
    registry.manifests.put("app", "latest", old_body, OCI_MANIFEST)
    new_body, new = image(registry, "app", LAYER, config=b'{"v": 2}')
    gate = race.gate(module, pause)
    do_put = lambda: registry.manifests.put("app", "latest", new_body, OCI_MANIFEST)  # noqa
    do_delete = lambda: registry.manifests.delete("app", old)  # noqa: E731
    if first == "put":
        put = race.first("put of the new image", do_put, gate)
        delete = race.start("old image delete", do_delete)
        race.waits(delete)
    else:
        delete = race.first("old image delete", do_delete, gate)
        put = race.start("put of the new image", do_put)
        if pause == "get_for_delete":
            race.passes(put)  # nothing of the put's is locked yet
        else:
            race.waits(put)
    race.settle(put, delete, story=story)
    assert put.ok, put
    assert delete.ok, delete
    assert tags_of(registry) == {"latest": new} and manifests_of(registry) == {new}
    assert_consistent(registry)


@pytest.mark.parametrize("first", ["put", "delete"])
def test_image_deletion_and_a_put_sharing_its_layer(race, registry, collector, first):
    """Deleting an untagged image starts the wait of its links while a put of another image
    holds one of them: the link may be marked though the new image lists it, but no sweep
    ever takes it."""
    old_body, old = image(registry, "app", LAYER, config=b'{"v": 1}')
    registry.manifests.put("app", None, old_body, OCI_MANIFEST)
    new_body, new = image(registry, "app", LAYER, config=b'{"v": 2}')
    do_put = lambda: registry.manifests.put("app", "v2", new_body, OCI_MANIFEST)  # noqa
    do_delete = lambda: registry.manifests.delete("app", old)  # noqa: E731
    if first == "put":
        put = race.first("put", do_put, race.gate(blob_rows, "hold_links"))
        delete = race.start("old image delete", do_delete)
        race.waits(delete)  # marking the shared link waits for the put's shared lock
    else:
        delete = race.first("old image delete", do_delete,
                            race.gate(manifest_rows, "remove"))
        put = race.start("put", do_put)
        race.passes(put)  # the links are not locked until the deletion marks them
    race.settle(put, delete, story=f"{first} first")
    assert put.ok and delete.ok, (str(put), str(delete))
    report = collector.sweep(now=later())
    assert report.links_unlinked == 1 and report.objects_deleted == 1  # the old config
    assert links_of(registry) == {str(Digest.of(LAYER)), str(Digest.of(b'{"v": 2}'))}
    assert_consistent(registry)


# -- 4a. a sweep deleting links while a manifest put holds them ----------------------------

def test_sweep_passes_over_links_a_put_holds(race, registry, collector):
    body, digest = image(registry, "app", LAYER)  # links unlisted: the sweep's candidates
    gate = race.gate(blob_rows, "hold_links")
    put = race.first("manifest put", lambda: registry.manifests.put(
        "app", "v1", body, OCI_MANIFEST), gate)
    sweep = race.start("sweep", lambda: collector.sweep(now=later()))
    race.passes(sweep)
    race.settle(put, sweep, story="put holds its links, then a sweep past their grace")
    assert put.ok, put
    assert sweep.ok, sweep
    assert sweep.result.links_unlinked == 0 and sweep.result.objects_deleted == 0
    assert len(links_of(registry)) == 2
    assert_consistent(registry)


def test_put_waits_for_a_sweep_that_locked_its_link_and_fails_cleanly(race, registry,
                                                                       collector):
    """The sweep paused with the first link locked, before checking that no manifest lists
    it: the put's shared lock waits, then finds the row gone."""
    body, digest = image(registry, "app", LAYER)
    gate = race.gate(garbage, "_listed", after=False)
    sweep = race.first("sweep", lambda: collector.sweep(now=later()), gate)
    put = race.start("manifest put", lambda: registry.manifests.put(
        "app", "v1", body, OCI_MANIFEST))
    race.waits(put)
    race.settle(sweep, put, story="sweep locked a link, then a put listing it")
    assert sweep.ok and sweep.result.links_unlinked == 2, sweep
    assert isinstance(put.error, ManifestBlobUnknown), put
    assert manifests_of(registry) == set() and links_of(registry) == set()
    assert_consistent(registry)


def test_sweep_rechecks_a_link_a_put_listed_after_its_page_was_read(race, registry,
                                                                    collector):
    """The sweep read its page (links unlisted) and paused before deleting; the put runs
    meanwhile. PostgreSQL: the put commits first and the sweep's check, after its lock,
    sees it. SQLite: the put waits for the sweep's write and finds the links gone."""
    body, digest = image(registry, "app", LAYER)
    gate = race.gate(garbage, "delete_link", after=False)
    sweep = race.first("sweep", lambda: collector.sweep(now=later()), gate)
    put = race.start("manifest put", lambda: registry.manifests.put(
        "app", "v1", body, OCI_MANIFEST))
    race.passes(put)
    race.settle(sweep, put, story="sweep read a page, then a put, then the sweep's delete")
    assert sweep.ok, sweep
    if race.pg:
        assert put.ok, put
        assert sweep.result.links_unlinked == 0 and manifests_of(registry) == {digest}
    else:
        assert isinstance(put.error, ManifestBlobUnknown), put
        assert sweep.result.links_unlinked == 2
    assert_consistent(registry)


# -- 4b. a sweep claiming an object while a push links it ----------------------------------

def stored_unlinked(registry, data: bytes) -> tuple[Digest, str]:
    """An object stored and pinned by a push that has not linked it yet."""
    key_ref = registry.uploads._key_ref("app", True)
    digest = Digest.of(data)
    registry.uploads._store(digest, len(data), key_ref, lambda k: registry.driver.put(k, data))
    return digest, key_ref


def test_link_waits_for_a_sweep_that_claimed_the_object_and_fails_cleanly(race, registry,
                                                                        collector):
    digest, key_ref = stored_unlinked(registry, OTHER)
    gate = race.gate(garbage, "claim_object")
    sweep = race.first("sweep", lambda: collector.sweep(now=later()), gate)
    link = race.start("link", lambda: registry.uploads._record(
        "app", digest, len(OTHER), key_ref))
    race.waits(link)  # hold() waits for the claimed row
    race.settle(sweep, link, story="sweep claimed the object, then a push links it")
    assert sweep.ok and sweep.result.objects_deleted == 1, sweep
    assert isinstance(link.error, BlobUploadUnknown), link
    assert links_of(registry) == set()
    assert query(registry, "SELECT digest FROM blobs") == []
    assert_consistent(registry)


def test_push_pin_waits_for_a_sweep_that_claimed_the_object_and_writes_it_again(
        race, registry, collector):
    digest, key_ref = stored_unlinked(registry, OTHER)
    gate = race.gate(garbage, "claim_object")
    sweep = race.first("sweep", lambda: collector.sweep(now=later()), gate)
    push = race.start("push", lambda: registry.uploads.put_small("app", digest, OTHER))
    race.waits(push)  # the pin waits for the claimed row
    race.settle(sweep, push, story="sweep claimed the object, then a push of its bytes")
    assert sweep.ok and sweep.result.objects_deleted == 1, sweep
    assert push.ok, push
    assert links_of(registry) == {str(digest)}
    blob = registry.blobs.find("app", digest)
    assert b"".join(registry.blobs.read(blob, 0, len(OTHER))) == OTHER
    assert_consistent(registry)


def test_sweep_passes_over_an_object_a_push_holds(race, registry, collector):
    digest, key_ref = stored_unlinked(registry, OTHER)
    gate = race.gate(blob_rows, "hold")
    link = race.first("link", lambda: registry.uploads._record(
        "app", digest, len(OTHER), key_ref), gate)
    sweep = race.start("sweep", lambda: collector.sweep(now=later()))
    race.passes(sweep)
    race.settle(link, sweep, story="push linked and holds the object, then a sweep")
    assert link.ok, link
    assert sweep.ok and sweep.result.objects_deleted == 0, sweep
    assert links_of(registry) == {str(digest)}
    assert_consistent(registry)


def test_sweep_claiming_an_object_linked_but_not_yet_held(race, registry, collector):
    """The push inserted its link (uncommitted) but has not held the object: PostgreSQL's
    sweep does not see the link, claims and deletes the object, and the push's hold then
    finds no row and refuses; on SQLite the sweep waits and finds the object held."""
    digest, key_ref = stored_unlinked(registry, OTHER)
    gate = race.gate(blob_rows, "link")
    link = race.first("link", lambda: registry.uploads._record(
        "app", digest, len(OTHER), key_ref), gate)
    sweep = race.start("sweep", lambda: collector.sweep(now=later()))
    race.passes(sweep)
    race.settle(link, sweep, story="push inserted its link, then a sweep, then its hold")
    assert sweep.ok, sweep
    assert link.ok != (sweep.result.objects_deleted == 1), (str(link), sweep.result)
    if race.pg:
        assert isinstance(link.error, BlobUploadUnknown), link
    else:
        assert link.ok, link
    assert_consistent(registry)


def test_late_release_of_an_object_a_push_holds_never_frees_it(race, registry, collector):
    """The subscriber releases the object (another repository's link went) while a push
    links and holds it: whatever the release writes, no sweep deletes linked bytes."""
    digest, key_ref = stored_unlinked(registry, OTHER)
    gate = race.gate(blob_rows, "hold")
    link = race.first("link", lambda: registry.uploads._record(
        "app", digest, len(OTHER), key_ref), gate)

    def release():
        with registry.db.write() as tx:
            garbage.release_object(tx, key_ref, str(digest), time.time() - 10 * GRACE)

    released = race.start("release", release)
    race.waits(released)
    race.settle(link, released, story="push holds the object, then a late release")
    assert link.ok and released.ok, (str(link), str(released))
    # PostgreSQL: the release's UPDATE re-checked only its row after waiting, not the link
    # (its snapshot predates it), so the linked object may now wait since long ago; only
    # the claim's check after its lock keeps it. SQLite: the release saw the link.
    since, = query(registry, "SELECT unreferenced_since FROM blobs")[0]
    assert since is None or race.pg, since
    with registry.db.write() as tx:
        assert garbage.claim_object(tx, key_ref, str(digest), time.time()) is None, (
            "a sweep claimed a linked object")
    assert collector.sweep().objects_deleted == 0
    assert links_of(registry) == {str(digest)}
    assert_consistent(registry)
