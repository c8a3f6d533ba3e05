"""Responses whose bodies the server sends from a worker thread: a range of an open file (with
sendfile), or the chunks of a blocking iterator."""
from __future__ import annotations

import os
from typing import Iterator

from starlette.requests import Request
from starlette.responses import Response

from .protocol import CHUNKS_SEND, ZEROCOPY_SEND


def sends_in_thread(request: Request) -> bool:
    """Whether the server takes SendfileResponse and ChunksResponse for this request."""
    extensions = request.scope.get("extensions", {})
    return ZEROCOPY_SEND in extensions and CHUNKS_SEND in extensions


class SendfileResponse(Response):
    """Bytes [offset, offset + count) of ``fd``, which the response owns and closes."""

    def __init__(self, fd: int, offset: int, count: int, status_code: int,
                 headers: dict[str, str], media_type: str):
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self.fd, self.offset, self.count = fd, offset, count

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            await send({"type": ZEROCOPY_SEND, "file": self.fd, "offset": self.offset,
                        "count": self.count, "more_body": False})
        finally:
            os.close(self.fd)


class ChunksResponse(Response):
    """The chunks of a blocking iterator (read in the sending thread), which the response
    owns and closes; the headers must give the Content-Length."""

    def __init__(self, chunks: Iterator[bytes], status_code: int, headers: dict[str, str],
                 media_type: str):
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self.chunks = chunks

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            await send({"type": CHUNKS_SEND, "chunks": self.chunks, "more_body": False})
        finally:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
