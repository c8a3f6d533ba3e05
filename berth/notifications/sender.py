"""POSTing deliveries over kept-alive connections, a few per origin: no retries or redirects
of its own (the queue retries), a timeout per socket operation. A request is one buffer
written at once; the answer is read by httptools (llhttp, the parser the server side already
uses). The delivery threads share their process's interpreter with the requests it serves,
so every microsecond they spend is taken from pushes: this costs about a third of the CPU of
http.client per POST, whose answers go through the email package's header parser."""
from __future__ import annotations

import socket
import ssl
import threading
from urllib.parse import quote, urlsplit

import httptools

from ..jobs.queue import error_text

IDLE_PER_ORIGIN = 4
MAX_ERROR_BODY = 64 * 1024  # an error answer's body is read this far, then the connection goes
_READ = 64 * 1024
_PATH_SAFE = "/?#[]@!$&'()*+,;=:%~"  # what a URL's path and query keep as they are

Origin = tuple[str, str, int, str]  # scheme, host, port, Host header


class DeliveryFailed(Exception):
    """An attempt did not succeed; ``unreachable`` when no answer came (refused, timed out),
    which ends the target's run: its other deliveries would most likely fail the same way."""

    def __init__(self, message: str, unreachable: bool):
        super().__init__(message)
        self.unreachable = unreachable


class Sender:
    def __init__(self, timeout_seconds: float):
        self.timeout = timeout_seconds
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port or (
            443 if parts.scheme == "https" else 80), parts.netloc)
        path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     safe=_PATH_SAFE)
        request = _request(path, origin[3], body, headers)
        conn, reused = self._idle_one(origin), True
        while True:
            try:
                if conn is None:
                    reused = False
                    conn = _Connection(origin, self.timeout, self._tls)
                status, keep = conn.exchange(request)
                break
            except (OSError, httptools.HttpParserError, _Ended) as exc:
                if conn is not None:
                    conn.close()
                if not reused:
                    raise DeliveryFailed(error_text(exc), unreachable=True) from None
                conn = None  # a kept-alive one the receiver had closed: once more, afresh
        if keep:
            self._give_back(origin, conn)
        else:
            conn.close()
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}", unreachable=False)

    def _idle_one(self, origin: Origin) -> "_Connection | None":
        with self._lock:
            idle = self._idle.get(origin)
            return idle.pop() if idle else None

    def _give_back(self, origin: Origin, conn: "_Connection") -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < IDLE_PER_ORIGIN:
                idle.append(conn)
                return
        conn.close()


def _request(path: str, host: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise DeliveryFailed(f"the {name} header holds a line break", unreachable=False)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Ended(Exception):
    """The receiver closed the connection before its answer ended."""


class _Connection:
    """One connection (TLS for https, the certificate checked against the default CAs) and
    the parser of the answers it carries."""

    def __init__(self, origin: Origin, timeout: float, tls: ssl.SSLContext):
        scheme, host, port, _ = origin
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def exchange(self, request: bytes) -> tuple[int, bool]:
        """(status, whether the connection may carry the next request)."""
        self.sock.sendall(request)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        answer.parser = parser
        while not answer.complete:
            data = self.sock.recv(_READ)
            if not data:
                if answer.head:  # an answer whose body ends with the connection
                    return answer.head, False
                raise _Ended("the receiver closed the connection before answering")
            parser.feed_data(data)
            if answer.body > MAX_ERROR_BODY:  # a large answer is not read to its end
                return answer.head, False
        return answer.head, answer.keep and not answer.trailing

    def close(self) -> None:
        self.sock.close()


class _Answer:
    """httptools' callbacks: the final answer's status, skipping informational (1xx) ones."""

    def __init__(self):
        self.parser: httptools.HttpResponseParser | None = None
        self.head = 0  # the status of the final answer, once its head has come
        self.body = 0
        self.complete = False
        self.keep = False
        self.trailing = False  # bytes after the answer: nothing the next request can trust

    def on_message_begin(self) -> None:
        self.trailing = self.complete

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if not self.complete:  # (a head among trailing bytes changes nothing)
            self.head = status if status >= 200 else 0

    def on_body(self, data: bytes) -> None:
        self.body += len(data)

    def on_message_complete(self) -> None:
        if self.head:  # a final answer (an informational one has no head here, nor body)
            self.complete = True  # whether to keep the connection is known only until now
            self.keep = self.parser.should_keep_alive()
