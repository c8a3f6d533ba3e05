"""Upload bodies: what a client says about the bytes it sends, and how they are received (on
the event loop, so that no thread waits for the network), then hashed and written by the
upload pool's threads in batches of about FLUSH_BYTES, pipelined."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator

from ...concurrency import upload_work
from ...storage.blobs import UploadTooLarge
from ..errors import SizeInvalid

# Bytes gathered from the network before one hop to a thread hashes and writes them.
FLUSH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """What a client said about the bytes it is sending."""
    start: int | None = None      # Content-Range start, if given
    length: int | None = None     # expected byte count (Content-Range or Content-Length)


Body = AsyncIterator[bytes]


class _Batch:
    """Body pieces gathered until about FLUSH_BYTES: one hashing-and-writing call each."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = self.total = 0

    def add(self, data: bytes) -> list[bytes] | None:
        """The batch once it is full (a fresh one starts), else None."""
        self.parts.append(data)
        self.size += len(data)
        self.total += len(data)
        if self.size < FLUSH_BYTES:
            return None
        full, self.parts, self.size = self.parts, [], 0
        return full

    def rest(self, expected: int | None) -> list[bytes]:
        """The last, partial batch; SizeInvalid if the body was not ``expected`` long."""
        if expected is not None and self.total != expected:
            raise SizeInvalid(f"received {self.total} bytes, expected {expected}")
        return self.parts


async def receive(writer, hasher, body: AsyncIterator[bytes], expected: int | None):
    """Hash and write a body received on the event loop. Each batch is hashed in one upload
    thread while it is sealed and written in another (both release the GIL; sha256 is the
    slower), and while the next batch is received. The body is closed at the end."""
    batch = _Batch()
    steps = _Steps(writer, hasher)
    try:
        async for data in body:
            full = batch.add(data) if data else None
            if full:
                await steps.next(full)
        await steps.next(batch.rest(expected), finish=True)
        return await steps.settle()
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:  # hands the socket back now, not when collected
            await aclose()
        await steps.drain()  # never close the writer under a running write


class _Steps:
    """The hashing and the writing of the latest batch, each in flight in its own thread."""

    def __init__(self, writer, hasher):
        self.writer, self.hasher = writer, hasher
        self._inflight: list[asyncio.Future] = []

    async def next(self, chunks: list[bytes], finish: bool = False) -> None:
        """Start on ``chunks`` once the batch before is hashed and written; ``finish``: the
        writer is finished after them (``settle`` returns what it says)."""
        await self.settle()
        write = asyncio.ensure_future(upload_work(_write, self.writer, chunks, finish))
        self._inflight = [write]
        if self.hasher is not None and chunks:
            self._inflight.append(asyncio.ensure_future(upload_work(_hash, self.hasher,
                                                                    chunks)))

    async def settle(self):
        """Wait for the steps in flight: the writer's result, or the first error (once both
        are done)."""
        inflight, self._inflight = self._inflight, []
        results = await asyncio.gather(*inflight, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results[0] if results else None

    async def drain(self) -> None:
        inflight, self._inflight = self._inflight, []
        await asyncio.gather(*inflight, return_exceptions=True)


def _hash(hasher, chunks: list[bytes]) -> None:
    for data in chunks:
        hasher.update(data)


def _write(writer, chunks: list[bytes], finish: bool):
    try:
        if chunks:
            writer.write(chunks)
    except UploadTooLarge as exc:
        raise SizeInvalid(f"the blob is too large for the storage: {exc}") from None
    return writer.finish() if finish else None
