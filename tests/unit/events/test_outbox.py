"""The outbox: events commit with their change, in order, and each subscriber reads on from
its own cursor, moved in the transaction of its effects."""
import json

import pytest

from berth.events import (IMAGE_DELETED, IMAGE_PUSHED, REPOSITORY_CREATED, TAG_REMOVED,
                          UPLOAD_COMPLETED, Outbox, Subscriber, emit)
from berth.registry.errors import TagImmutable
from berth.registry.references import Digest
from berth.registry.repositories.settings import (IMMUTABLE, RepositorySettingsService,
                                                TagMutability)
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create

OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def registry(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024, 1)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()


def _image(registry, repository: str, tag: str, layer: bytes) -> str:
    blobs = []
    for data in (b"{}", layer):
        registry.uploads.put_small(repository, Digest.of(data), data)
        blobs.append({"mediaType": "application/octet-stream", "digest": str(Digest.of(data)),
                      "size": len(data)})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI, "config": blobs[0],
                       "layers": blobs[1:]}).encode()
    return str(registry.manifests.put(repository, tag, body, OCI).digest)


def test_a_push_and_a_delete_emit_their_events_in_order(registry):
    digest = _image(registry, "app", "v1", b"layer")
    registry.manifests.delete("app", "v1")
    registry.manifests.delete("app", digest)
    events = Outbox(registry.db).read()
    assert [e.kind for e in events] == [REPOSITORY_CREATED, UPLOAD_COMPLETED, UPLOAD_COMPLETED,
                                        IMAGE_PUSHED, TAG_REMOVED, IMAGE_DELETED]
    assert [e.id for e in events] == sorted(e.id for e in events)
    pushed, removed, deleted = events[3:]
    assert pushed.payload["tag"] == "v1" and pushed.payload["digest"] == digest
    assert pushed.payload["created"] is True and pushed.repository == "app"
    assert removed.payload == {"repositoryId": pushed.payload["repositoryId"], "tag": "v1",
                               "digest": digest}
    assert sorted(deleted.payload["blobs"]) == sorted(
        [str(Digest.of(b"{}")), str(Digest.of(b"layer"))])


def test_a_failed_change_emits_nothing(registry):
    _image(registry, "app", "v1", b"one")
    RepositorySettingsService(registry.db, 1).set_mutability("app", TagMutability(IMMUTABLE))
    before = len(Outbox(registry.db).read())
    with pytest.raises(TagImmutable):
        _image(registry, "app", "v1", b"two")
    kinds = [e.kind for e in Outbox(registry.db).read()[before:]]
    assert kinds == [UPLOAD_COMPLETED, UPLOAD_COMPLETED]  # its blobs went in, the image not


def test_re_pushing_the_same_image_emits_no_push(registry):
    _image(registry, "app", "v1", b"one")
    before = len(Outbox(registry.db).read())
    _image(registry, "app", "v1", b"one")
    assert IMAGE_PUSHED not in [e.kind for e in Outbox(registry.db).read()[before:]]


def test_each_subscriber_reads_on_from_its_cursor(registry):
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def recorder(name):
        return Subscriber(name, lambda tx, events: seen[name].extend(e.id for e in events),
                          from_start=True)

    outbox = Outbox(registry.db, batch=2)
    _image(registry, "app", "v1", b"one")
    assert outbox.deliver(recorder("a")) == 4
    _image(registry, "app", "v2", b"two")
    # Each upload completes (its blob linked again or anew), then the image.
    assert outbox.deliver(recorder("a")) == 3 and outbox.deliver(recorder("b")) == 7
    assert outbox.deliver(recorder("a")) == 0
    assert seen["a"] == seen["b"] == [e.id for e in outbox.read()]
    assert outbox.positions() == {"a": seen["a"][-1], "b": seen["b"][-1]}


def test_a_failing_subscriber_keeps_its_position_and_effects_roll_back(registry):
    _image(registry, "app", "v1", b"one")
    outbox = Outbox(registry.db)

    def fails(tx, events):
        emit(tx, "test.effect", 1, None)  # an effect in the same transaction
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        outbox.deliver(Subscriber("x", fails, from_start=True))
    kinds = [e.kind for e in outbox.read()]
    assert "test.effect" not in kinds and outbox.positions().get("x", 0) == 0


def test_a_new_subscriber_starts_at_the_end_unless_from_start(registry):
    _image(registry, "app", "v1", b"one")
    outbox = Outbox(registry.db)
    got = []
    late = Subscriber("late", lambda tx, events: got.extend(events))
    assert outbox.deliver(late) == 0
    _image(registry, "app", "v2", b"two")
    assert outbox.deliver(late) == 3 and got[-1].kind == IMAGE_PUSHED


def test_prune_keeps_what_a_subscriber_has_not_read(registry):
    _image(registry, "app", "v1", b"one")
    outbox = Outbox(registry.db)
    outbox.deliver(Subscriber("a", lambda tx, events: None, from_start=True))
    _image(registry, "app", "v2", b"two")
    total = len(outbox.read())
    assert outbox.prune(["a"], retention=0, now=2e9) == 4
    assert len(outbox.read()) == total - 4
    _image(registry, "app", "v3", b"three")  # ids go on past the pruned ones
    assert [e.id for e in outbox.read()] == sorted(e.id for e in outbox.read())
