"""uvicorn's httptools protocol, with ASGI extensions that keep blob bytes off the event loop
and never let a thread wait for the network.

- ``http.response.zerocopysend`` (the ASGI extension of that name): the bytes of an open file
  go out with os.sendfile, from worker threads (the read pool);
- ``berth.response.chunks``: a blocking iterator of bytes (say, blob bytes being decrypted) is
  read and written to the socket from worker threads, not a hop per piece;
- ``berth.body.socket``: a handler takes a request body of known length straight off the
  socket, read on the event loop, instead of through receive() (which costs four copies and a
  trip through the event loop per 64 KiB).

Sending threads give the socket back whenever it is full; the wait for room is on the loop
(socket_io). A peer idle longer than ``concurrency.limits().idle_seconds`` is cut off.

These are offered on plain TCP only (TLS needs the transport), and work on a duplicate of the
socket's descriptor: should the transport close meanwhile, its descriptor number cannot be
reused under the thread for another connection.

This leans on uvicorn's internals (the cycle's fields, the parser), hence the pinned uvicorn
minor version; tests/unit/api/http/ exercises every field used here.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from ...concurrency import limits, read_work
from .socket_io import ChunksSender, FileSender, Sender, SocketBody, wait_ready

ZEROCOPY_SEND = "http.response.zerocopysend"
CHUNKS_SEND = "berth.response.chunks"
SOCKET_BODY = "berth.body.socket"
# The first byte of a TLS connection: a handshake record (the ClientHello).
TLS_HANDSHAKE = b"\x16"

log = logging.getLogger("berth.http")
_tls_hello_logged = False


class BerthHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._plain = transport.get_extra_info("sslcontext") is None
        self._socket_fd = sock.fileno() if sock is not None and self._plain else -1
        self._first_data = True

    def data_received(self, data: bytes) -> None:
        if self._first_data:
            self._first_data = False
            if self._plain and data[:1] == TLS_HANDSHAKE:
                return self._refuse_tls()
        super().data_received(data)

    def _refuse_tls(self) -> None:
        """docker and skopeo try HTTPS first on an insecure registry: an HTTP answer makes
        them fall back to HTTP at once, and is no reason for a warning per operation."""
        global _tls_hello_logged
        if not _tls_hello_logged:
            _tls_hello_logged = True
            log.debug("a client tried TLS on this plain HTTP port (from %s); answered in HTTP "
                      "so that it falls back (logged once)", self.client)
        self.send_400_response("This port serves plain HTTP, not HTTPS.")

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
                sender: Sender = FileSender(message["file"], int(message.get("offset", 0)),
                                            count)
            else:
                sender = ChunksSender(message["chunks"], room)
            sent = await self._send_body(sender)
            if sent is None:
                return
            self.expected_content_length -= sent
        # Completion (Content-Length check, keep-alive, pipelining) as for any body.
        await super().send({"type": "http.response.body", "body": b"",
                            "more_body": message.get("more_body", False)})

    async def _send_body(self, sender: Sender) -> int | None:
        """Send the body once the headers are out, in steps in worker threads, waiting for
        room on the loop; the bytes sent, or None if the connection failed or idled (it is
        then closed: the response is cut short)."""
        while self.transport.get_write_buffer_size():  # the headers go first
            await asyncio.sleep(0.001)
            if self.disconnected:
                return None
        sock_fd = os.dup(self.protocol._socket_fd)
        try:
            while not await read_work(sender.step, sock_fd):
                await wait_ready(sock_fd, True, limits().idle_seconds)
            return sender.sent
        except TimeoutError:  # the peer took nothing for too long: drop what is queued too
            self._cut(reset=True)
            return None
        except OSError:
            self._cut()
            return None
        except BaseException:
            self._cut()  # a failure past the headers cannot become an error response
            raise
        finally:
            os.close(sock_fd)
            await read_work(sender.close)

    def _cut(self, reset: bool = False) -> None:
        if reset:  # close with RST: the kernel frees the socket's queued bytes at once
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.close()
        self.disconnected = True

    async def take_body(self) -> SocketBody:
        """The rest of the body as a SocketBody (read on the loop); receive() is not to be
        called for this request afterwards."""
        if self.body_taken:
            raise RuntimeError("the request body was already taken")
        self.body_taken = True
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        prefix, self.body = bytes(self.body), bytearray()
        remaining = 0 if not self.more_body else self.body_length - self.body_seen
        if remaining <= 0 or self.disconnected:
            return SocketBody(prefix, -1, 0, lambda ok: None, 0, self.disconnected)
        self.flow.pause_reading()
        return SocketBody(prefix, os.dup(self.protocol._socket_fd), remaining, self._body_read,
                          limits().idle_seconds)

    def _body_read(self, ok: bool) -> None:
        """Once the body is read or given up on."""
        if not ok:
            # The stream is out of step with the parser: nothing more can be read. Reading
            # stays paused; the handler's answer goes out, then the connection closes.
            self.keep_alive = False
            self.more_body = False
            self.message_event.set()
            return
        self.body_seen = self.body_length
        self.more_body = False
        # Reading was paused, so the parser saw nothing past this body and no later request.
        self.protocol.reset_parser()
        self.message_event.set()
        self.flow.resume_reading()
