"""Request bodies a handler can read on the event loop or, where the server offers it, straight
off the socket in a worker thread."""
from __future__ import annotations

from typing import AsyncIterator, Iterator

from starlette.requests import Request

from ...registry.blobs.bodies import BlockingBody
from .protocol import SOCKET_BODY


class RequestBody(BlockingBody):
    def __init__(self, request: Request):
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._request.stream().__aiter__()

    async def take(self) -> Iterator[bytes]:
        take = self._request.scope["extensions"][SOCKET_BODY]["take"]
        return await take()


def request_body(request: Request) -> BlockingBody | AsyncIterator[bytes]:
    """The body: one a worker thread can read off the socket if the server offers that for
    this request (a known length, plain TCP), else the ASGI stream."""
    if SOCKET_BODY in request.scope.get("extensions", {}):
        return RequestBody(request)
    return request.stream()
