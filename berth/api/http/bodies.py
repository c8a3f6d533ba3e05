"""Request bodies as async iterators of bytes: straight off the socket where the server offers
that for the request (a known length, plain TCP), else the ASGI stream. Either way, a peer
that sends nothing for the idle limit is given up on (ClientDisconnect)."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from ...concurrency import limits
from .protocol import SOCKET_BODY


def request_body(request: Request) -> AsyncIterator[bytes]:
    if SOCKET_BODY in request.scope.get("extensions", {}):
        return _socket_body(request)
    return _idle_limited(request.stream(), limits().idle_seconds)


async def _socket_body(request: Request) -> AsyncIterator[bytes]:
    body = await request.scope["extensions"][SOCKET_BODY]["take"]()
    try:
        async for data in body:
            yield data
    finally:
        body.close()


async def _idle_limited(stream: AsyncIterator[bytes], idle: float) -> AsyncIterator[bytes]:
    parts = stream.__aiter__()
    while True:
        try:
            async with asyncio.timeout(idle):
                data = await parts.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ClientDisconnect() from None
        yield data
