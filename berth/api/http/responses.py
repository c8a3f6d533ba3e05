"""A response whose body is a range of an open file, sent by the server with sendfile."""
from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import Response

from .protocol import ZEROCOPY_SEND


def offers_sendfile(request: Request) -> bool:
    return ZEROCOPY_SEND in request.scope.get("extensions", {})


class SendfileResponse(Response):
    """Bytes [offset, offset + count) of ``fd``, which the response owns and closes. Only for
    servers that offer ``http.response.zerocopysend`` (see ``offers_sendfile``)."""

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
