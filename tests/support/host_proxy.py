"""Reaching Berth's registry host names (``<account>.dkr.ecr.<region>.localhost:<port>``) from
clients that cannot resolve them: curl resolves ``*.localhost`` itself, Go's resolver (skopeo,
podman, buildah) asks DNS, which does not know them. Such a client, given
``HTTP_PROXY=<this proxy>``, sends every plain-HTTP request here with the host name it meant
(Go proxies ``*.localhost``, only ``localhost`` itself and loopback IPs go direct); the proxy
passes each on to the one server it fronts with its Host header as it came.

    with HostProxy(node.port) as proxy:
        skopeo = Skopeo(workdir, env=proxy.env)   # or any client's environment
"""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

# Hop-by-hop headers: about one connection, never passed on.
HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                 "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade"})


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def log_message(self, *args) -> None:  # quiet: the server logs every request itself
        pass

    def _forward(self) -> None:
        target = urlsplit(self.path)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        body = self._body()
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:  # every header line as the client sent it (Host names the registry; Accept repeats)
            connection.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", answer.getheader("Content-Length") or "0")
        elif answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(iter(self._chunk, b""))
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _chunk(self) -> bytes:
        size = int(self.rfile.readline().split(b";")[0], 16)
        data = self.rfile.read(size) if size else b""
        self.rfile.readline()  # the CRLF after the chunk (or the trailer's end)
        return data

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class HostProxy:
    """A forward proxy on a free loopback port to the server on ``127.0.0.1:port``."""

    def __init__(self, port: int):
        handler = type("Forward", (_Forward,), {"upstream": ("127.0.0.1", port)})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """A client's environment that sends its plain-HTTP requests through this proxy."""
        return {"HTTP_PROXY": self.url, "http_proxy": self.url, "NO_PROXY": "", "no_proxy": ""}

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
