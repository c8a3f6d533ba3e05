"""A pull-through fetch streams the upstream's bytes to its client while the store takes them:
both get every byte in order; a client that goes away does not stop the store; an upstream
that fails mid-blob fails both; a store that fails ends the client's body with an error (a
client never takes a short body for a whole one)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from berth.pullthrough.fetch import Fetch
from berth.registry.references import Digest

CHUNK = 64 * 1024
DIGEST = Digest.parse("sha256:" + "0" * 64)


class _Blob:
    def __init__(self, chunks: list[bytes], fail_after: int | None = None):
        self.chunks, self.fail_after = chunks, fail_after
        self.size = sum(map(len, chunks))
        self.closed = False

    def __iter__(self):
        for n, data in enumerate(self.chunks):
            if n == self.fail_after:
                raise ConnectionResetError("the upstream went away")
            yield data

    def close(self):
        self.closed = True


class _SlowStore:
    def __init__(self, delay: float, fail_at: int | None = None):
        self.delay, self.fail_at = delay, fail_at
        self.received: list[bytes] = []
        self.finished = asyncio.Event()

    async def upload_whole(self, repository, digest, body, chunk, may_create=True):
        try:
            async for data in body:
                if len(self.received) == self.fail_at:
                    raise OSError(28, "No space left on device")
                self.received.append(data)
                await asyncio.sleep(self.delay)
        finally:
            self.finished.set()
        return digest


def _fetch(store, blob, client=True) -> Fetch:
    return Fetch(SimpleNamespace(uploads=store), "repo", DIGEST, blob, client=client)


def _chunks(count: int) -> list[bytes]:
    return [bytes([n % 256]) * CHUNK for n in range(count)]


def test_the_client_and_the_store_both_get_every_byte_in_order():
    async def main():
        sent = _chunks(64)
        store, blob = _SlowStore(0.001), _Blob(sent)
        fetch = _fetch(store, blob)
        task = asyncio.ensure_future(fetch.store())
        got = [data async for data in fetch.chunks()]
        await task
        return sent, got, store.received, fetch, blob
    sent, got, stored, fetch, blob = asyncio.run(main())
    assert got == sent and stored == sent
    assert fetch.done.result() is None and fetch.finished.is_set() and blob.closed


def test_a_client_that_goes_away_does_not_stop_the_store():
    async def main():
        sent = _chunks(32)
        store = _SlowStore(0.001)
        fetch = _fetch(store, _Blob(sent))
        task = asyncio.ensure_future(fetch.store())
        async for _ in fetch.chunks():
            break  # the client hangs up after one chunk
        await task
        return sent, store.received
    sent, stored = asyncio.run(main())
    assert stored == sent


def test_an_upstream_failing_mid_blob_fails_the_client_and_the_store():
    async def main():
        store = _SlowStore(0)
        fetch = _fetch(store, _Blob(_chunks(8), fail_after=3))
        task = asyncio.ensure_future(fetch.store())
        got = []
        with pytest.raises(ConnectionResetError):
            async for data in fetch.chunks():
                got.append(data)
        with pytest.raises(ConnectionResetError):
            await task
        return got, fetch
    got, fetch = asyncio.run(main())
    assert len(got) == 3 and isinstance(fetch.done.exception(), ConnectionResetError)


def test_a_store_that_fails_ends_the_clients_body_with_the_error():
    async def main():
        fetch = _fetch(_SlowStore(0, fail_at=2), _Blob(_chunks(16)))
        task = asyncio.ensure_future(fetch.store())
        got = []
        with pytest.raises(OSError):
            async for data in fetch.chunks():
                got.append(data)
        with pytest.raises(OSError):
            await task
        return got, fetch
    got, fetch = asyncio.run(main())
    assert len(got) < 16 and isinstance(fetch.done.exception(), OSError)
