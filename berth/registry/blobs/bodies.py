"""Upload bodies: what a client says about the bytes it sends, and how they are received (on
the event loop, so that no thread waits for the network), then hashed and written by the
upload pool's threads in batches of about FLUSH_BYTES, double-buffered."""
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
    """Hash and write a body received on the event loop, double-buffered: one batch is hashed
    and written in a thread while the next is received. The body is closed at the end."""
    batch = _Batch()
    inflight: asyncio.Future | None = None
    try:
        async for data in body:
            full = batch.add(data) if data else None
            if full:
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(upload_work(_write_hashed, writer, hasher, full))
        if inflight is not None:
            await inflight
            inflight = None
        return await upload_work(_write_and_finish, writer, hasher, batch.rest(expected))
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:  # hands the socket back now, not when collected
            await aclose()
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
