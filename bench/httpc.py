"""Minimal HTTP/1.1 clients over raw keep-alive sockets (stdlib only).

* `SyncConn`  -- blocking socket; streams request bodies from an iterator and discards response
  bodies in large chunks. Used for the large-blob push/pull workloads.
* `AsyncConn` -- asyncio streams; request/response with small bodies. Used for the concurrent
  small-image, tag and listing workloads.

Both speak only what a registry needs: Content-Length bodies (no chunked *request* bodies),
chunked or Content-Length *responses*, keep-alive.

TLS: `configure(base_url, ca_file)` (once per load-generator process, like DEFAULT_HEADERS)
makes every connection to the server HTTPS when its base URL says `https://`: an ssl context
trusting only `ca_file`, the certificate checked against the host (an IP SAN for 127.0.0.1).
The handshake is made when a connection opens; keep-alive reuses it for every request after.
A connection to another host (`foreign`, a redirect's target) takes the scheme of its URL.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Iterable, Mapping
from urllib.parse import urlsplit

RECV_CHUNK = 1 << 20


class HTTPError(Exception):
    pass


class Response:
    __slots__ = ("status", "headers", "body", "nbytes")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, nbytes: int):
        self.status, self.headers, self.body, self.nbytes = status, headers, body, nbytes

    def expect(self, *codes: int, what: str = "") -> "Response":
        if self.status not in codes:
            raise HTTPError(f"{what}: HTTP {self.status}, expected {codes}: {self.body[:300]!r}")
        return self


def split_url(url: str) -> tuple[str, int, str]:
    """Returns (host, port, path+query) of an absolute or relative URL."""
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    return u.hostname or "", u.port or (443 if u.scheme == "https" else 80), path or "/"


# Headers every request carries (the registry token, for servers that want one); set once
# per load-generator process.
DEFAULT_HEADERS: dict[str, str] = {}
# The ssl context of connections to the server under test (None: plain HTTP); see configure().
DEFAULT_TLS: ssl.SSLContext | None = None
_SERVER = object()  # `tls` default of the connections: DEFAULT_TLS


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verifies the peer's chain against `ca_file` (else the system's CAs) and its name."""
    return ssl.create_default_context(cafile=ca_file)


def configure(base_url: str, ca_file: str | None = None) -> None:
    """Connections to the server speak TLS when `base_url` is https://, trusting `ca_file`."""
    global DEFAULT_TLS
    DEFAULT_TLS = client_context(ca_file) if base_url.startswith("https:") else None


def tls_for(url: str) -> ssl.SSLContext | None:
    """The ssl context for an absolute URL on another host (a redirect's target)."""
    if not url.startswith("https:"):
        return None
    return DEFAULT_TLS or client_context()


def tls_info(obj) -> dict[str, str]:
    """Protocol and cipher an SSLSocket or SSL transport negotiated ({} for plain TCP)."""
    get = getattr(obj, "get_extra_info", None)
    cipher = get("cipher") if get else getattr(obj, "cipher", lambda: None)()
    if not cipher:
        return {}
    return {"tls_version": cipher[1], "tls_cipher": cipher[0]}


def build_head(method: str, path: str, host: str, headers: Mapping[str, str] | None,
               length: int | None, defaults: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for k, v in {**(DEFAULT_HEADERS if defaults else {}), **(headers or {})}.items():
        lines.append(f"{k}: {v}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            headers[k] = headers[k] + ", " + v if k in headers else v
    return status, headers


class SyncConn:
    """`foreign=True`: a connection to another host (a redirect's target, e.g. an S3 gateway)
    that must not get the registry's DEFAULT_HEADERS (its token)."""

    def __init__(self, host: str, port: int, timeout: float = 300.0, foreign: bool = False,
                 tls: ssl.SSLContext | None | object = _SERVER):
        """`tls`: an ssl context, None for plain TCP; default: DEFAULT_TLS (plain if foreign)."""
        self.host, self.port, self.timeout, self.foreign = host, port, timeout, foreign
        self.tls = tls if tls is not _SERVER else (None if foreign else DEFAULT_TLS)
        self.sock: socket.socket | None = None
        self.buf = bytearray(RECV_CHUNK)
        self.pending = b""
        self.info: dict[str, str] = {}  # what the last TLS handshake negotiated

    def _connect(self) -> socket.socket:
        if self.sock is None:
            s = socket.create_connection((self.host, self.port), timeout=self.timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:  # one handshake per connection, here
                try:
                    s = self.tls.wrap_socket(s, server_hostname=self.host)
                except BaseException:
                    s.close()
                    raise
                self.info = tls_info(s)
            self.sock, self.pending = s, b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: bytes | Iterable[bytes | memoryview] | None = None, length: int | None = None,
                keep_body: bool = True) -> Response:
        """Sends a request; `body` is bytes or an iterator of chunks totalling `length` bytes.
        With keep_body=False the response body is read and discarded (only counted)."""
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        elif body is None and method in ("POST", "PUT", "PATCH"):
            length = 0
        s = self._connect()
        head = build_head(method, path, f"{self.host}:{self.port}", headers, length,
                          defaults=not self.foreign)
        try:
            if isinstance(body, (bytes, bytearray)):
                s.sendall(head + body)
            else:
                s.sendall(head)
                sent = 0
                for chunk in body or ():
                    s.sendall(chunk)
                    sent += len(chunk)
                if length is not None and sent != length:
                    raise HTTPError(f"body generator produced {sent} bytes, declared {length}")
            return self._read_response(method, keep_body)
        except BaseException:
            self.close()
            raise

    def _recv_some(self) -> bytes:
        n = self.sock.recv_into(self.buf)
        if n == 0:
            raise HTTPError("connection closed by server")
        return bytes(self.buf[:n])

    def _read_response(self, method: str, keep_body: bool) -> Response:
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv_some()
        raw, _, rest = data.partition(b"\r\n\r\n")
        status, headers = parse_head(raw)
        parts: list[bytes] = []
        nbytes = 0
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self.pending = rest
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, self.pending = self._read_chunked(rest)
            nbytes = len(body)
            parts.append(body)
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            take = rest[:remaining]
            self.pending = rest[remaining:]
            nbytes += len(take)
            remaining -= len(take)
            if keep_body:
                parts.append(take)
            view = memoryview(self.buf)
            while remaining > 0:
                n = self.sock.recv_into(view, min(remaining, len(self.buf)))
                if n == 0:
                    raise HTTPError("connection closed mid-body")
                if keep_body:
                    parts.append(bytes(view[:n]))
                nbytes += n
                remaining -= n
        else:  # read until close
            parts.append(rest)
            while True:
                n = self.sock.recv_into(self.buf)
                if n == 0:
                    break
                parts.append(bytes(self.buf[:n]))
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, b"".join(parts), nbytes)

    def _read_chunked(self, data: bytes) -> tuple[bytes, bytes]:
        out = []
        while True:
            while b"\r\n" not in data:
                data += self._recv_some()
            line, _, data = data.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(data) < size + 2:
                data += self._recv_some()
            out.append(data[:size])
            data = data[size + 2:]
            if size == 0:
                return b"".join(out), data


class AsyncConn:
    """One keep-alive connection; not safe for concurrent use (one request at a time)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None | object = _SERVER):
        """`tls`: an ssl context, None for plain TCP; default: DEFAULT_TLS."""
        self.host, self.port = host, port
        self.tls = DEFAULT_TLS if tls is _SERVER else tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.info: dict[str, str] = {}  # what the last TLS handshake negotiated

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None) -> Response:
        for attempt in (0, 1):
            if self.writer is None:
                tls = {"ssl": self.tls, "server_hostname": self.host} if self.tls else {}
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, limit=1 << 22, **tls)
                self.writer.get_extra_info("socket").setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.info = tls_info(self.writer)
            length = len(body) if body is not None else (0 if method in ("POST", "PUT", "PATCH") else None)
            head = build_head(method, path, f"{self.host}:{self.port}", headers, length)
            try:
                self.writer.write(head + body if body else head)
                return await self._read_response(method)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                await self.close()
                # Retry once only if the server dropped an idle keep-alive connection.
                if attempt or not isinstance(e, asyncio.IncompleteReadError) or e.partial:
                    raise
        raise AssertionError("unreachable")

    async def _read_response(self, method: str) -> Response:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status, headers = parse_head(raw[:-4])
        body = b""
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body, len(body))
