"""The request middleware (pure ASGI: it is on every request's path): gives each request its
id (returned as X-Request-Id), counts its body bytes both ways, and once the response is out
builds one RequestRecord and hands it to every observer."""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Iterator

from ..api.http.protocol import CHUNKS_SEND, SOCKET_BODY, ZEROCOPY_SEND
from . import Observer, RequestRecord
from .context import FACTS, RequestFacts, chosen_request_id, request_id_var

log = logging.getLogger("berth.observability")

_ERROR_BODY = 4096  # error answers are small; a larger body is not one to read a code from

# Routes whose "route" in the record is the AWS JSON operation, by path.
_AWS_JSON = {"/": "ecr", "/admin": "admin"}
_HEALTH = {"/healthz", "/readyz"}


class RequestObserver:
    def __init__(self, app, observers: Iterable[Observer] = ()):
        self.app = app
        self.observers = list(observers)
        self._failed: set[int] = set()  # observers already logged as failing (once each)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = chosen_request_id(scope.get("headers") or ())
        facts = scope[FACTS] = RequestFacts(rid)
        token = request_id_var.set(rid)
        count = _Counts(rid.encode())
        _count_socket_body(scope, count)
        try:
            await self.app(scope, count.wrap_receive(receive), count.wrap_send(send))
        except BaseException:
            if not count.status:
                count.status = 500  # the server answers so for an app that raised early
            raise
        finally:
            try:
                self._observe(scope, facts, count, time.perf_counter() - started)
            finally:
                request_id_var.reset(token)

    def _observe(self, scope, facts: RequestFacts, count: _Counts, seconds: float) -> None:
        if not self.observers:
            return
        record = _record(scope, facts, count, seconds)
        for observer in self.observers:
            try:
                observer(record)
            except Exception:
                if id(observer) not in self._failed:
                    self._failed.add(id(observer))
                    log.exception("request observer %r failed (logged once)", observer)


class _Counts:
    __slots__ = ("header", "status", "bytes_in", "bytes_out", "bodies", "chunks", "error_body")

    def __init__(self, request_id: bytes):
        self.header = (b"x-request-id", request_id)
        self.error_body = b""  # an error answer's (small) body: its code is in it
        self.status = 0
        self.bytes_in = self.bytes_out = 0
        self.bodies: list[Any] = []   # SocketBody objects taken off the socket
        self.chunks: list[_CountedChunks] = []

    def wrap_receive(self, receive):
        async def counted_receive():
            message = await receive()
            body = message.get("body")
            if body:
                self.bytes_in += len(body)
            return message
        return counted_receive

    def wrap_send(self, send):
        async def counted_send(message):
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                self.bytes_out += len(body)
                if self.status >= 400 and not self.error_body and len(body) <= _ERROR_BODY:
                    self.error_body = body
            elif kind == "http.response.start":
                self.status = message["status"]
                message["headers"] = [*message.get("headers", ()), self.header]
            elif kind == ZEROCOPY_SEND:
                self.bytes_out += int(message.get("count") or 0)
            elif kind == CHUNKS_SEND:
                counted = _CountedChunks(message["chunks"])
                self.chunks.append(counted)
                message = {**message, "chunks": counted}
            await send(message)
        return counted_send

    def totals(self) -> tuple[int, int]:
        bytes_in = self.bytes_in + sum(getattr(b, "received", 0) for b in self.bodies)
        return bytes_in, self.bytes_out + sum(c.sent for c in self.chunks)


class _CountedChunks:
    """A blocking iterator of bytes that counts what it yields (read in a sending thread)."""

    __slots__ = ("chunks", "sent")

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks: Iterator[bytes] = iter(chunks)
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = next(self.chunks)
        self.sent += len(data)
        return data


def _count_socket_body(scope, count: _Counts) -> None:
    """A body the handler takes straight off the socket bypasses receive(): count it too."""
    extensions = scope.get("extensions")
    offered = extensions.get(SOCKET_BODY) if extensions else None
    if offered is None:
        return
    take = offered["take"]

    async def counted_take():
        body = await take()
        count.bodies.append(body)
        return body
    extensions[SOCKET_BODY] = {**offered, "take": counted_take}


def _record(scope, facts: RequestFacts, count: _Counts, seconds: float) -> RequestRecord:
    protocol, route = _route(scope, facts)
    state = scope.get("state") or {}
    caller = state.get("caller")
    if caller is not None and not facts.principal_arn:  # the OCI gate's admitted caller
        facts.principal_arn = caller.principal.arn or ""  # "": anonymous (public pulls)
    address = state.get("address")
    if address is not None and not facts.account_id:
        facts.account_id, facts.region = address.account_id, address.region
    if protocol == "oci" and not facts.repository:  # a public repository's without its alias
        facts.repository = state.get("repository_name") or (
            scope.get("path_params") or {}).get("name", "")
    bytes_in, bytes_out = count.totals()
    if scope["method"] == "HEAD":
        bytes_out = 0  # the server sends no body whatever the app passed
    client = scope.get("client")
    return RequestRecord(
        user_agent=_header(scope, b"user-agent"), error_code=_error_code(count.error_body),
        parameters=facts.parameters,
        protocol=protocol, route=route, method=scope["method"], status=count.status,
        bytes_in=bytes_in, bytes_out=bytes_out, seconds=seconds,
        request_id=facts.request_id, source_ip=client[0] if client else "",
        principal_arn=facts.principal_arn, account_id=facts.account_id,
        region=facts.region, repository=facts.repository,
        redirected_bytes=facts.redirected_bytes)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value[:256].decode("latin-1")
    return ""


def _error_code(body: bytes) -> str:
    """The code of an OCI error answer ({"errors": [{"code": ...}]}) or an AWS JSON one
    ({"__type": ...})."""
    if not body:
        return ""
    try:
        found = json.loads(body)
        if "__type" in found:
            return str(found["__type"])[:64]
        return str(found["errors"][0]["code"])[:64]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return ""


def _route(scope, facts: RequestFacts) -> tuple[str, str]:
    """The protocol and the route template (an AWS JSON endpoint's operation): bounded."""
    matched = scope.get("route")
    path = getattr(matched, "path", None)
    if path is None:
        return "other", "-"
    if path in _AWS_JSON:
        return _AWS_JSON[path], facts.operation
    if path.startswith("/v2"):
        return "oci", path
    if path.startswith("/console"):  # its changes are ECR operations (berth.api.console)
        return "console", facts.operation
    if path in _HEALTH:
        return "health", path
    if path == "/metrics":
        return "metrics", path
    return "other", path
