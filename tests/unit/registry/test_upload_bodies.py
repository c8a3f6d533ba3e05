"""How an upload body is hashed and written: batches, pipelined across two upload threads."""
import asyncio
import hashlib
import threading

import pytest

from berth.registry.blobs.bodies import FLUSH_BYTES, receive
from berth.registry.errors import SizeInvalid
from berth.storage.blobs import UploadTooLarge


async def _body(*parts):
    for part in parts:
        yield part


class _Writer:
    def __init__(self, fail: Exception | None = None):
        self.data = bytearray()
        self.started = threading.Event()
        self.fail = fail
        self.finished = self.aborted = False

    def write(self, chunks):
        self.started.set()
        if self.fail is not None:
            raise self.fail
        for chunk in chunks:
            self.data += chunk

    def finish(self):
        self.finished = True
        return len(self.data), {"done": True}


class _WaitingHasher:
    """sha256 whose update waits until the writer has started on the same batch: it
    deadlocks (times out) if hashing and writing share one thread, one after the other."""

    def __init__(self, writer: _Writer):
        self.inner, self.writer = hashlib.sha256(), writer
        self.overlapped = 0

    def update(self, data):
        if self.writer.started.wait(5):
            self.overlapped += 1
        self.writer.started.clear()
        self.inner.update(data)


def test_a_batch_is_hashed_while_it_is_written():
    data = bytes(range(256)) * (3 * FLUSH_BYTES // 256)
    writer = _Writer()
    hasher = _WaitingHasher(writer)
    pieces = [data[i:i + FLUSH_BYTES] for i in range(0, len(data), FLUSH_BYTES)]
    result = asyncio.run(receive(writer, hasher, _body(*pieces), len(data)))
    assert result == (len(data), {"done": True})
    assert bytes(writer.data) == data
    assert hasher.inner.hexdigest() == hashlib.sha256(data).hexdigest()
    assert hasher.overlapped == len(pieces)


def test_small_pieces_are_gathered_in_order():
    pieces = [bytes([i % 251]) * 70_000 for i in range(40)]
    data = b"".join(pieces)
    writer, hasher = _Writer(), hashlib.sha256()
    assert asyncio.run(receive(writer, hasher, _body(*pieces), None))[0] == len(data)
    assert bytes(writer.data) == data and hasher.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_short_body_is_refused_after_what_came_is_written():
    writer = _Writer()
    with pytest.raises(SizeInvalid):
        asyncio.run(receive(writer, hashlib.sha256(), _body(b"x" * (FLUSH_BYTES + 10)),
                            FLUSH_BYTES + 11))
    assert len(writer.data) == FLUSH_BYTES + 10  # the full batch; then the count is short
    assert not writer.finished


def test_storage_too_small_is_size_invalid_and_the_hashing_finishes_first():
    writer = _Writer(fail=UploadTooLarge("no room"))
    hashed = []

    class _SlowHasher:
        def update(self, data):
            threading.Event().wait(0.2)
            hashed.append(len(data))

    with pytest.raises(SizeInvalid):
        asyncio.run(receive(writer, _SlowHasher(), _body(b"y" * (2 * FLUSH_BYTES)), None))
    assert sum(hashed) == 2 * FLUSH_BYTES  # the error waited for the hash in flight
    assert not writer.finished
