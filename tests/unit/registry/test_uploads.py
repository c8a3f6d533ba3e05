import asyncio
import hashlib
import os
import time

import pytest
from starlette.requests import ClientDisconnect

from berth.registry.blobs.bodies import Chunk
from berth.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid
from berth.registry.references import Digest
from berth.storage.blobs import UploadTooLarge
from berth.storage.blobs.keyring import DEPLOYMENT_KEY, join_key
from berth.storage.metadata import repositories


async def _body(*parts):
    for part in parts:
        yield part


def run(coro):
    return asyncio.run(coro)


def test_chunked_upload_verifies_and_commits(registry):
    data = os.urandom(300_000)
    uid = registry.uploads.start("r")
    assert run(registry.uploads.append("r", uid, _body(data[:100_000]), Chunk(0, 100_000))) == 100_000
    assert run(registry.uploads.append("r", uid, _body(data[100_000:]))) == 300_000
    digest = Digest.of(data)
    run(registry.uploads.complete("r", uid, digest))
    assert registry.blobs.stat("r", digest) == 300_000
    assert b"".join(registry.blobs.read(registry.blobs.find("r", digest), 0, 300_000)) == data


def test_completion_rehashes_when_the_hash_state_is_elsewhere(registry):
    data = b"x" * 5000
    uid = registry.uploads.start("r")
    run(registry.uploads.append("r", uid, _body(data)))
    registry.uploads.hashers.discard(uid)  # as if the next request reached another node
    run(registry.uploads.complete("r", uid, Digest.of(data)))
    assert registry.blobs.stat("r", Digest.of(data)) == 5000


def test_sha512_digest(registry):
    data = b"sha512 content"
    uid = registry.uploads.start("r")
    run(registry.uploads.complete("r", uid, Digest.of(data, "sha512"), _body(data)))
    assert registry.blobs.stat("r", Digest.of(data, "sha512")) == len(data)


def test_out_of_order_chunk_and_wrong_length(registry):
    uid = registry.uploads.start("r")
    with pytest.raises(RangeInvalid):
        run(registry.uploads.append("r", uid, _body(b"abc"), Chunk(5, 3)))
    with pytest.raises(SizeInvalid):
        run(registry.uploads.append("r", uid, _body(b"abc"), Chunk(0, 10)))
    assert registry.uploads.status("r", uid) == 0


def test_digest_mismatch_leaves_nothing_visible(registry):
    uid = registry.uploads.start("r")
    wrong = Digest("sha256", hashlib.sha256(b"other").hexdigest())
    with pytest.raises(DigestInvalid):
        run(registry.uploads.complete("r", uid, wrong, _body(b"data")))
    with pytest.raises(Exception):
        registry.blobs.stat("r", wrong)
    with pytest.raises(DigestInvalid):
        run(registry.uploads.upload_whole("r", wrong, _body(b"data")))
    assert list((registry.driver.root / "uploads").iterdir()) == [
        registry.driver.root / "uploads" / uid]


def test_upload_belongs_to_its_repository(registry):
    uid = registry.uploads.start("r")
    with pytest.raises(BlobUploadUnknown):
        registry.uploads.status("other", uid)


def test_expiry_removes_idle_and_untracked_uploads(registry):
    uid = registry.uploads.start("r")
    registry.driver.upload_start("orphan")  # a monolithic upload whose process died
    assert registry.uploads.expire(3600) == 0
    assert registry.uploads.expire(0, now=time.time() + 10) == 2
    with pytest.raises(BlobUploadUnknown):
        registry.uploads.status("r", uid)
    assert list((registry.driver.root / "uploads").iterdir()) == []


def test_completion_survives_a_crash_between_move_and_record(registry):
    data = b"moved but not recorded"
    digest = Digest.of(data)
    uid = registry.uploads.start("r")
    run(registry.uploads.append("r", uid, _body(data)))
    # The process died right after the driver moved the upload under its key (within the
    # repository's key ref: the deployment key's by default).
    registry.driver.upload_commit(uid, {}, len(data), join_key(DEPLOYMENT_KEY, digest.key))
    registry.uploads.hashers.discard(uid)
    run(registry.uploads.complete("r", uid, digest))
    assert registry.blobs.stat("r", digest) == len(data)
    with pytest.raises(BlobUploadUnknown):
        registry.uploads.status("r", uid)


class _FullWriter:
    """A storage writer that has no room left (S3's part limit, say)."""

    def write(self, chunks):
        raise UploadTooLarge("no room")

    def finish(self):
        raise AssertionError("a writer that failed is not finished")

    def abort(self):
        self.aborted = True


def test_a_blob_too_large_for_the_storage_is_size_invalid(registry, monkeypatch):
    uid = registry.uploads.start("r")
    writer = _FullWriter()
    monkeypatch.setattr(registry.uploads.driver, "upload_writer", lambda *args: writer)
    with pytest.raises(SizeInvalid, match="too large"):
        run(registry.uploads.append("r", uid, _body(b"x" * 2_000_000)))
    assert writer.aborted and registry.uploads.status("r", uid) == 0


class _SocketLikeBody:
    """A body like one read off the socket: an async iterator that records its aclose()."""

    def __init__(self, *parts: bytes, fail_after: int | None = None):
        self.parts, self.fail_after, self.closed, self.sent = iter(parts), fail_after, 0, 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise ClientDisconnect()
        self.sent += 1
        try:
            return next(self.parts)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self):
        self.closed += 1


def test_body_is_hashed_and_written_and_closed(registry):
    data = os.urandom(3_000_000)
    parts = [data[i:i + 700_000] for i in range(0, len(data), 700_000)]
    uid = registry.uploads.start("r")
    body = _SocketLikeBody(*parts)
    assert run(registry.uploads.append("r", uid, body, Chunk(0, len(data)))) == len(data)
    assert body.closed == 1
    digest = Digest.of(data)
    run(registry.uploads.complete("r", uid, digest))  # the running hash came through
    assert b"".join(registry.blobs.read(registry.blobs.find("r", digest), 0, len(data))) == data


def test_body_of_the_wrong_length_or_cut_short_changes_nothing(registry):
    uid = registry.uploads.start("r")
    run(registry.uploads.append("r", uid, _SocketLikeBody(b"abc"), Chunk(0, 3)))
    body = _SocketLikeBody(b"defg")
    with pytest.raises(SizeInvalid):
        run(registry.uploads.append("r", uid, body, Chunk(3, 10)))
    cut = _SocketLikeBody(b"de", b"fg", fail_after=1)
    with pytest.raises(ClientDisconnect):
        run(registry.uploads.append("r", uid, cut))
    assert (body.closed, cut.closed) == (1, 1)
    assert registry.uploads.status("r", uid) == 3
    run(registry.uploads.append("r", uid, _SocketLikeBody(b"defg"), Chunk(3, 4)))
    digest = Digest.of(b"abcdefg")
    run(registry.uploads.complete("r", uid, digest))
    assert registry.blobs.stat("r", digest) == 7


def test_monolithic_body_in_parts(registry):
    data = os.urandom(2_500_000)
    digest = Digest.of(data)
    run(registry.uploads.upload_whole("r", digest, _SocketLikeBody(data[:1_000_000], data[1_000_000:]),
                                      Chunk(length=len(data))))
    assert registry.blobs.stat("r", digest) == len(data)


def test_deleting_the_repository_cancels_its_uploads(registry):
    """An upload outlives no repository deletion: completing it afterwards is refused and
    does not make the repository again; appending to it is refused too."""
    run(registry.uploads.upload_whole("gone", Digest.of(b"first"), _body(b"first"),
                                      Chunk(length=5)))
    uid = registry.uploads.start("gone")
    other = registry.uploads.start("kept")
    run(registry.uploads.append("gone", uid, _body(b"bytes")))
    registry.repository_settings.delete("gone", force=True)
    with pytest.raises(BlobUploadUnknown):
        run(registry.uploads.complete("gone", uid, Digest.of(b"bytes")))
    with pytest.raises(BlobUploadUnknown):
        run(registry.uploads.append("gone", uid, _body(b"more")))
    with registry.db.read() as tx:
        assert repositories.get_id(tx, registry.registry_id, "gone") is None
    run(registry.uploads.append("kept", other, _body(b"ok")))  # other repositories' go on


def test_ecr_layer_parts_but_the_last_are_at_least_the_minimum(registry):
    from berth.registry.errors import LayerPartTooSmall
    from berth.registry.blobs.layers import MIN_PART_BYTES

    def layer(*parts):
        uid = registry.uploads.start("r")
        at = 0
        for part in parts:
            run(registry.uploads.append("r", uid, _body(part), Chunk(at, len(part)),
                                        as_layer=True))
            at += len(part)
        return uid, Digest.of(b"".join(parts))

    for parts in ([b"a" * 10], [os.urandom(MIN_PART_BYTES), b"b" * 10],
                  [os.urandom(MIN_PART_BYTES)] * 2):
        uid, digest = layer(*parts)
        assert run(registry.uploads.complete("r", uid, digest, as_layer=True)) == digest
    uid, digest = layer(os.urandom(MIN_PART_BYTES - 1), b"c" * 10)
    with pytest.raises(LayerPartTooSmall) as refused:
        run(registry.uploads.complete("r", uid, digest, as_layer=True))
    assert refused.value.detail["small_parts"] == 1
    with pytest.raises(LayerPartTooSmall):  # the session stays as it was: refused alike
        run(registry.uploads.complete("r", uid, digest, as_layer=True))
    # The registry API's chunks are no parts: any size, completed as a blob.
    uid = registry.uploads.start("r")
    run(registry.uploads.append("r", uid, _body(b"d" * 10), Chunk(0, 10)))
    run(registry.uploads.append("r", uid, _body(b"e" * 10), Chunk(10, 10)))
    digest = Digest.of(b"d" * 10 + b"e" * 10)
    assert run(registry.uploads.complete("r", uid, digest)) == digest
