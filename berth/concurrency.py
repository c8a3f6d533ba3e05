"""Running blocking work (database, disk) off the event loop."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, TypeVar

import anyio.to_thread

T = TypeVar("T")


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))


async def quick_read(inline: bool, func: Callable[..., T], *args: Any) -> T:
    """A hot-path metadata read: on the event loop where the database makes that cheaper than
    a hop to a thread (``Database.inline_reads``), in a thread otherwise."""
    return func(*args) if inline else await blocking(func, *args)
