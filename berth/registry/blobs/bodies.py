"""Upload bodies: what a client says about the bytes it sends, and how they are received,
hashed and written (in a worker thread straight off the socket, or double-buffered from the
event loop), in batches of about FLUSH_BYTES."""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

from ...concurrency import blocking
from ...storage.blobs import UploadTooLarge
from ..errors import SizeInvalid

# Bytes gathered from the network before one hop to a thread hashes and writes them.
FLUSH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """What a client said about the bytes it is sending."""
    start: int | None = None      # Content-Range start, if given
    length: int | None = None     # expected byte count (Content-Range or Content-Length)


class BlockingBody(ABC):
    """A body that can also be read with blocking calls in a worker thread (straight off the
    socket), which spares the event loop a hop per piece. Read one way or the other, once."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]:
        """The bytes, received on the event loop."""

    @abstractmethod
    async def take(self) -> Iterator[bytes]:
        """The bytes, to iterate in a worker thread; its close() must be called at the end."""


Body = AsyncIterator[bytes] | BlockingBody


Body = AsyncIterator[bytes] | BlockingBody


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


def pump(writer, hasher, chunks, expected: int | None):
    """Hash and write a blocking body, all in this (worker) thread."""
    batch = _Batch()
    try:
        for data in chunks:
            full = batch.add(data)
            if full:
                _write_hashed(writer, hasher, full)
    finally:
        chunks.close()
    return _write_and_finish(writer, hasher, batch.rest(expected))


async def receive(writer, hasher, body: AsyncIterator[bytes], expected: int | None):
    """Hash and write a body received on the event loop, double-buffered: one batch is hashed
    and written in a thread while the next is received."""
    batch = _Batch()
    inflight: asyncio.Future | None = None
    try:
        async for data in body:
            full = batch.add(data) if data else None
            if full:
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(blocking(_write_hashed, writer, hasher, full))
        if inflight is not None:
            await inflight
            inflight = None
        return await blocking(_write_and_finish, writer, hasher, batch.rest(expected))
    finally:
        if inflight is not None:  # never close the writer under a running write
            await asyncio.gather(inflight, return_exceptions=True)


def _write_and_finish(writer, hasher, chunks: list[bytes]):
    if chunks:
        _write_hashed(writer, hasher, chunks)
    return writer.finish()


def _write_hashed(writer, hasher, chunks: list[bytes]) -> None:
    if hasher is not None:
        for data in chunks:
            hasher.update(data)
    try:
        writer.write(chunks)
    except UploadTooLarge as exc:
        raise SizeInvalid(f"the blob is too large for the storage: {exc}") from None
