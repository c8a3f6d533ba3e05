"""A blob fetched from an upstream, stored while it streams to the client that asked: the
store drives the reading (so a client that goes away does not stop it), offering each chunk
to the client on the way (a slow client slows the fetch, as a direct pull would). One fetch
per blob and node at a time: who asks meanwhile waits for it and is served from storage."""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import AsyncIterator, Callable

from ..concurrency import blocking, read_work
from ..registry.blobs.bodies import Chunk
from ..registry.references import Digest
from ..registry.registry import Registry
from .claims import Claim
from .upstream import Upstream, UpstreamBlob

log = logging.getLogger("berth.pullthrough")

QUEUED_CHUNKS = 8  # ~8 MiB between the store and a client
CLIENT_WAIT = 60.0  # a client that takes no chunk for this long is left behind


class Fetch:
    def __init__(self, reg: Registry, repository: str, digest: Digest, blob: UpstreamBlob,
                 client: bool = True, claim: Claim | None = None):
        self.reg, self.repository, self.digest = reg, repository, digest
        self.claim = claim  # held for this fetch: renewed as bytes come, released at the end
        self.blob = blob
        self.size = blob.size
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.done.add_done_callback(_seen)  # a failure nobody waited for is logged once
        self.finished = threading.Event()  # for other threads (an import job's)
        self._client: asyncio.Queue | None = asyncio.Queue(QUEUED_CHUNKS) if client else None

    async def store(self) -> None:
        """Read the upstream's bytes into storage (verified against the digest there)."""
        try:
            await self.reg.uploads.upload_whole(self.repository, self.digest, self._read(),
                                                Chunk(length=self.size), may_create=False)
        except BaseException as exc:
            if not self.done.done():
                self.done.set_exception(exc)
            await self._give(exc)
            raise
        finally:
            self.finished.set()
            await blocking(self.blob.close)
            if self.claim is not None:
                await blocking(self.claim.release)
        self.done.set_result(None)
        await self._give(None)

    async def _read(self) -> AsyncIterator[bytes]:
        """The upstream's chunks, the next one read while this one is stored and sent."""
        chunks = iter(self.blob)
        ahead = asyncio.ensure_future(read_work(next, chunks, None))
        try:
            while (data := await ahead) is not None:
                ahead = asyncio.ensure_future(read_work(next, chunks, None))
                if self.claim is not None and self.claim.renew_due():
                    await blocking(self.claim.renew)
                await self._give(data)
                yield data
        finally:
            await asyncio.gather(ahead, return_exceptions=True)

    async def _give(self, item: bytes | BaseException | None) -> None:
        """To the client, if it is still reading (None: the end)."""
        queue = self._client
        if queue is None:
            return
        try:
            await asyncio.wait_for(queue.put(item), CLIENT_WAIT)
        except asyncio.TimeoutError:  # never started reading, or stalled: left behind
            self._client = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes as they arrive, for the client that started the fetch."""
        queue = self._client
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._client = None  # gone (or done): the store goes on without it
            while queue.qsize():
                queue.get_nowait()


def _seen(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class Fetches:
    """The fetches under way in this process, by (registry, repository, digest)."""

    def __init__(self):
        self._running: dict[tuple[int, str, str], Fetch] = {}
        self._tasks: set[asyncio.Task] = set()

    def running(self, reg: Registry, repository: str, digest: Digest) -> Fetch | None:
        return self._running.get((reg.registry_id, repository, str(digest)))

    async def start(self, reg: Registry, repository: str, digest: Digest,
                    upstream: Callable[[], Upstream], name: str, client: bool = True,
                    claim: Claim | None = None) -> Fetch:
        """A fetch of ``name``'s blob from the upstream, storing under way (``client``: its
        chunks are read by the caller, through ``chunks``)."""
        key = (reg.registry_id, repository, str(digest))
        try:
            # Not hashed here: the store verifies the digest (one pass, not two).
            blob = await read_work(lambda: upstream().blob(name, str(digest), verify=False))
        except BaseException:
            if claim is not None:
                await blocking(claim.release)
            raise
        fetch = self._running[key] = Fetch(reg, repository, digest, blob, client, claim)
        task = asyncio.ensure_future(fetch.store())
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._ended(key, t))
        return fetch

    def _ended(self, key, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("pull-through fetch of %s into %s failed: %s", key[2], key[1],
                        task.exception())
