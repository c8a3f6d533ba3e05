"""A push whose pin lapsed while it wrote (a write slowed by load past half the grace
period): it pins again and links if the bytes are still there, writes them again if a
collector took them and it still has them, and is refused cleanly if it does not."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from berth.registry.errors import BlobUploadUnknown
from berth.registry.references import Digest

from .conftest import GRACE
from .test_races import assert_consistent, later, links_of, query

DATA = b"slow" * 1000


def _slow_write(monkeypatch, registry, collector, method: str, collected: bool) -> list:
    """The driver's first ``method`` call returns after the pin lapsed (and, if
    ``collected``, after a sweep took the unlinked object); the pins seen are recorded."""
    original, calls = getattr(registry.driver, method), []

    def slow(*args, **kwargs):
        result = original(*args, **kwargs)
        if not calls:
            with registry.db.write() as tx:
                tx.execute(text("UPDATE blobs SET unreferenced_since = unreferenced_since"
                                f" - {10 * GRACE}"))
            if collected:
                assert collector.sweep(now=later()).objects_deleted == 1
        calls.append(method)
        return result

    monkeypatch.setattr(registry.driver, method, slow)
    return calls


def _read(registry, digest: Digest) -> bytes:
    blob = registry.blobs.find("app", digest)
    return b"".join(registry.blobs.read(blob, 0, blob.size))


@pytest.mark.parametrize("collected", [False, True], ids=["bytes-kept", "bytes-collected"])
def test_a_small_push_pins_again_and_links(registry, collector, monkeypatch, collected):
    calls = _slow_write(monkeypatch, registry, collector, "put", collected)
    digest = Digest.of(DATA)
    registry.uploads.put_small("app", digest, DATA)
    assert calls == ["put", "put"] if collected else calls == ["put"]
    assert links_of(registry) == {str(digest)} and _read(registry, digest) == DATA
    assert query(registry, "SELECT unreferenced_since FROM blobs") == [(None,)]
    assert_consistent(registry)


async def _body():
    yield DATA


def test_a_streamed_push_whose_bytes_stayed_links(registry, collector, monkeypatch):
    _slow_write(monkeypatch, registry, collector, "upload_commit", collected=False)
    digest = Digest.of(DATA)
    upload = registry.uploads.start("app")
    asyncio.run(registry.uploads.complete("app", upload, digest, _body()))
    assert links_of(registry) == {str(digest)} and _read(registry, digest) == DATA
    assert_consistent(registry)


def test_a_streamed_push_whose_bytes_were_collected_is_refused(registry, collector,
                                                               monkeypatch):
    _slow_write(monkeypatch, registry, collector, "upload_commit", collected=True)
    digest = Digest.of(DATA)
    upload = registry.uploads.start("app")
    with pytest.raises(BlobUploadUnknown):
        asyncio.run(registry.uploads.complete("app", upload, digest, _body()))
    assert links_of(registry) == set()
    with pytest.raises(BlobUploadUnknown):  # its session went with its bytes
        registry.uploads.status("app", upload)
    collector.sweep(now=later())  # the second pin, with no bytes, is freed in time
    assert query(registry, "SELECT digest FROM blobs") == []
    assert_consistent(registry)
