"""uvicorn's httptools protocol, with two ASGI extensions that keep blob bytes off the event loop.

- ``http.response.zerocopysend`` (the ASGI extension of that name): the bytes of an open file
  go out with os.sendfile, from a worker thread;
- ``berth.response.chunks``: a blocking iterator of bytes (say, blob bytes being decrypted) is
  read and written to the socket from a worker thread, not a hop per piece;
- ``berth.body.socket``: a handler takes a request body of known length straight off the
  socket, in a worker thread, instead of through receive() (which costs four copies and a
  trip through the event loop per 64 KiB).

Both are offered on plain TCP only (TLS needs the transport), and both work on a duplicate of
the socket's descriptor: should the transport close meanwhile, its descriptor number cannot be
reused under the thread for another connection.

This leans on uvicorn's internals (the cycle's fields, the parser), hence the pinned uvicorn
minor version; tests/unit/api/http/ exercises every field used here.
"""
from __future__ import annotations

import asyncio
import os
from functools import partial

import anyio.to_thread
import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from .socket_io import SocketBody, send_chunks, send_file

ZEROCOPY_SEND = "http.response.zerocopysend"
CHUNKS_SEND = "berth.response.chunks"
SOCKET_BODY = "berth.body.socket"


class BerthHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._socket_fd = (sock.fileno() if sock is not None and
                           transport.get_extra_info("sslcontext") is None else -1)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # An upgrade makes no cycle; only uvicorn's own cycle class is extended.
        if self._socket_fd < 0 or cycle is None or cycle.scope is not self.scope or \
                type(cycle) is not RequestResponseCycle:
            return
        # The cycle was made inside super(); its task has not run yet, so changing its class
        # here is seen by every call the application makes.
        cycle.__class__ = _Cycle
        cycle.setup(self, _content_length(self.headers))
        extensions = self.scope.setdefault("extensions", {})  # type: ignore[typeddict-item]
        extensions[ZEROCOPY_SEND] = {}
        extensions[CHUNKS_SEND] = {}
        if cycle.body_length is not None:
            extensions[SOCKET_BODY] = {"take": cycle.take_body}

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if isinstance(cycle, _Cycle):
            cycle.body_seen += len(body)
        super().on_body(body)

    def reset_parser(self) -> None:
        """A fresh parser at a message boundary, after a body was read past this one."""
        self.parser = httptools.HttpRequestParser(self)
        try:
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # pragma: no cover - httptools < 0.6.3
            pass


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length if it is given by one valid Content-Length and not chunked."""
    lengths = [v for k, v in headers if k == b"content-length"]
    if len(lengths) != 1 or any(k == b"transfer-encoding" for k, _ in headers):
        return None
    raw = lengths[0].strip()
    return int(raw) if raw.isdigit() else None


class _Cycle(RequestResponseCycle):
    protocol: BerthHttpProtocol
    body_length: int | None
    body_seen: int
    body_taken: bool

    def setup(self, protocol: BerthHttpProtocol, body_length: int | None) -> None:
        self.protocol, self.body_length = protocol, body_length
        self.body_seen, self.body_taken = 0, False

    async def send(self, message) -> None:  # type: ignore[override]
        kind = message["type"]
        if kind not in (ZEROCOPY_SEND, CHUNKS_SEND):
            return await super().send(message)
        if not self.response_started or self.response_complete or self.chunked_encoding:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.scope["method"] != "HEAD" and not self.disconnected:
            room = self.expected_content_length
            if kind == ZEROCOPY_SEND:
                count = int(message.get("count") or 0)
                if count > room:
                    raise RuntimeError("Response content longer than Content-Length")
                job = partial(send_file, file_fd=message["file"],
                              offset=int(message.get("offset", 0)), count=count)
            else:
                job = partial(send_chunks, chunks=message["chunks"], limit=room)
            sent = await self._in_thread(job)
            if sent is None:
                return
            self.expected_content_length -= sent
        # Completion (Content-Length check, keep-alive, pipelining) as for any body.
        await super().send({"type": "http.response.body", "body": b"",
                            "more_body": message.get("more_body", False)})

    async def _in_thread(self, job) -> int | None:
        """Run ``job(sock_fd)`` in a worker thread once the headers are out; the bytes it sent,
        or None if the connection failed (it is then closed: the response is cut short)."""
        while self.transport.get_write_buffer_size():  # the headers go first
            await asyncio.sleep(0.001)
            if self.disconnected:
                return None
        sock_fd = os.dup(self.protocol._socket_fd)
        try:
            return await anyio.to_thread.run_sync(job, sock_fd)
        except OSError:
            self._cut()
            return None
        except BaseException:
            self._cut()  # a failure past the headers cannot become an error response
            raise
        finally:
            os.close(sock_fd)

    def _cut(self) -> None:
        self.transport.close()
        self.disconnected = True

    async def take_body(self) -> SocketBody:
        """The rest of the body as a SocketBody to read in a worker thread; receive() is not
        to be called for this request afterwards."""
        if self.body_taken:
            raise RuntimeError("the request body was already taken")
        self.body_taken = True
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        prefix, self.body = bytes(self.body), bytearray()
        remaining = 0 if not self.more_body else self.body_length - self.body_seen
        if remaining <= 0 or self.disconnected:
            return SocketBody(prefix, -1, 0, lambda ok: None, self.disconnected)
        self.flow.pause_reading()
        loop = asyncio.get_running_loop()
        return SocketBody(prefix, os.dup(self.protocol._socket_fd), remaining,
                          lambda ok: loop.call_soon_threadsafe(self._body_read, ok))

    def _body_read(self, ok: bool) -> None:
        """On the loop, once the thread is done with the socket."""
        if not ok:  # the stream is out of step with the parser: nothing more can be read
            self.disconnected = True
            self.transport.close()
            return
        self.body_seen = self.body_length
        self.more_body = False
        # Reading was paused, so the parser saw nothing past this body and no later request.
        self.protocol.reset_parser()
        self.message_event.set()
        self.flow.resume_reading()
