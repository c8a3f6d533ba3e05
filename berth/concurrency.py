"""Running blocking work (database, disk) off the event loop, in three pools of threads:
metadata (anyio's default), upload bytes and blob reads, so that none of the three can take
every thread from the others. Sizes and the network idle limit are set per event loop at
start-up (``configure``); until then the defaults below hold."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    metadata_threads: int = 32
    upload_threads: int = 16
    read_threads: int = 32
    # A peer that sends or takes no byte of a body for this long is given up on.
    idle_seconds: float = 30.0


_LIMITS: RunVar[Limits] = RunVar("berth_limits", default=Limits())
_POOLS: RunVar[dict[str, CapacityLimiter]] = RunVar("berth_pools")


def configure(limits: Limits) -> None:
    """Apply ``limits`` to the running event loop (call from its lifespan)."""
    _LIMITS.set(limits)
    anyio.to_thread.current_default_thread_limiter().total_tokens = limits.metadata_threads
    _POOLS.set({"uploads": CapacityLimiter(limits.upload_threads),
                "reads": CapacityLimiter(limits.read_threads)})


def limits() -> Limits:
    return _LIMITS.get()


def _pool(name: str) -> CapacityLimiter:
    try:
        pools = _POOLS.get()
    except LookupError:
        configure(_LIMITS.get())
        pools = _POOLS.get()
    return pools[name]


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Metadata and other short blocking work."""
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))


async def upload_work(func: Callable[..., T], *args: Any) -> T:
    """Hashing and writing the bytes of a request body."""
    return await anyio.to_thread.run_sync(partial(func, *args), limiter=_pool("uploads"))


async def read_work(func: Callable[..., T], *args: Any) -> T:
    """Reading blob bytes and sending them to a client."""
    return await anyio.to_thread.run_sync(partial(func, *args), limiter=_pool("reads"))


async def read_ahead(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator's items for a coroutine, each read in the read pool while the one
    before is used; the iterator is closed at the end, or when the consumer stops."""
    ahead = asyncio.ensure_future(read_work(next, chunks, None))
    try:
        while True:
            data = await ahead
            if data is None:
                return
            ahead = asyncio.ensure_future(read_work(next, chunks, None))
            yield data
    finally:
        await asyncio.gather(ahead, return_exceptions=True)
        getattr(chunks, "close", lambda: None)()


async def quick_read(inline: bool, func: Callable[..., T], *args: Any) -> T:
    """A hot-path metadata read: on the event loop where the database makes that cheaper than
    a hop to a thread (``Database.inline_reads``), in a thread otherwise."""
    return func(*args) if inline else await blocking(func, *args)
