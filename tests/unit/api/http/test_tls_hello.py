"""A TLS ClientHello on the plain HTTP port (docker and skopeo try HTTPS first on an insecure
registry): answered with an HTTP 400 and closed, so the client falls back at once, and logged
once per process at debug, never as a warning. Everything else is served as before."""
from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from berth.api.http import protocol
from berth.api.http.protocol import BerthHttpProtocol
from tests.support.certificates import issue_pair, new_ca
from tests.support.log_records import records_of

from .conftest import ServerThread


def make_app(calls: list):
    async def index(request: Request) -> Response:
        calls.append(("GET", b""))
        return PlainTextResponse("ok")

    async def echo(request: Request) -> Response:
        body = await request.body()
        calls.append(("POST", body))
        return PlainTextResponse(f"{len(body)} {body[:1].hex()}")

    return Starlette(routes=[Route("/", index), Route("/echo", echo, methods=["POST"])])


def client_hello() -> bytes:
    """The first flight of a real TLS client."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context().wrap_bio(incoming, outgoing,
                                                   server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == protocol.TLS_HANDSHAKE
    return hello


def read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response on a kept-alive connection: (head, body), by its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head, body


def warnings_in(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING]


@pytest.fixture
def logs():
    """Records of Berth's HTTP logger (at every level) and of uvicorn's, whose warning an
    unparseable request would otherwise be."""
    with records_of("berth.http", "uvicorn.error") as records:
        yield records


@pytest.fixture
def first_in_process(monkeypatch):
    """As in a fresh server process: no TLS hello logged yet."""
    monkeypatch.setattr(protocol, "_tls_hello_logged", False)


@pytest.fixture
def plain(serve):
    calls: list = []
    server = serve(make_app(calls))
    server.calls = calls
    return server


def _refused(server) -> bytes:
    with server.connect() as sock:
        sock.sendall(client_hello())
        return read_to_end(sock)  # the server closes the connection


def test_a_client_hello_gets_an_http_400_and_the_connection_closed(plain, logs,
                                                                   first_in_process):
    answer = _refused(plain)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in head.lower()
    assert body == b"This port serves plain HTTP, not HTTPS."
    assert plain.calls == []  # the application never saw it


def test_it_is_logged_once_per_process_at_debug(plain, logs, first_in_process):
    for _ in range(3):
        assert _refused(plain).startswith(b"HTTP/1.1 400 ")
    tls_lines = [r for r in logs if r.name == "berth.http"]
    assert len(tls_lines) == 1
    assert tls_lines[0].levelno == logging.DEBUG
    assert "tried TLS" in tls_lines[0].getMessage()
    assert "127.0.0.1" in tls_lines[0].getMessage()  # from whom
    assert warnings_in(logs) == []


def test_once_logged_it_is_not_logged_again(plain, logs, monkeypatch):
    monkeypatch.setattr(protocol, "_tls_hello_logged", True)  # another connection's, earlier
    assert _refused(plain).startswith(b"HTTP/1.1 400 ")
    assert list(logs) == []


def test_a_lone_handshake_byte_is_refused_too(plain, logs, first_in_process):
    with plain.connect() as sock:
        sock.sendall(protocol.TLS_HANDSHAKE)
        assert read_to_end(sock).startswith(b"HTTP/1.1 400 ")
    assert warnings_in(logs) == []


def test_http_is_served_as_before_and_after(plain, logs, first_in_process):
    with plain.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b"ok"
    _refused(plain)
    with plain.connect() as sock:  # the server goes on serving
        for _ in range(2):  # keep-alive: a second request on the connection
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 ") and body == b"ok"
    assert [c[0] for c in plain.calls] == ["GET"] * 3
    assert warnings_in(logs) == []


def test_only_the_first_bytes_of_a_connection_are_looked_at(plain, logs, first_in_process):
    """A body that starts with 0x16 (any binary upload may) arrives later: it is a body."""
    body = protocol.TLS_HANDSHAKE + bytes(range(256)) * 4
    with plain.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):  # the headers were read on their own
            chunk = sock.recv(1)
            assert chunk
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        head, answer = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert answer == f"{len(body)} 16".encode()
    assert plain.calls == [("POST", body)]
    assert [r for r in logs if r.name == "berth.http"] == []


# --- on a TLS port, the bytes after the handshake are HTTP's own ------------------------


class TlsServerThread(ServerThread):
    def __init__(self, app, cert: Path, key: Path):
        super().__init__(app)
        config = uvicorn.Config(app, http=BerthHttpProtocol, loop="uvloop", lifespan="off",
                                log_level="warning", timeout_keep_alive=30,
                                ssl_certfile=str(cert), ssl_keyfile=str(key))
        self.server = uvicorn.Server(config)


@pytest.fixture
def tls_server(tmp_path):
    ca = new_ca(tmp_path / "ca")
    issue_pair(ca, tmp_path / "server.crt", tmp_path / "server.key", ["127.0.0.1"])
    calls: list = []
    server = TlsServerThread(make_app(calls), tmp_path / "server.crt",
                             tmp_path / "server.key").__enter__()
    server.calls = calls
    server.client_context = ssl.create_default_context(cafile=str(ca.cert_path))
    yield server
    server.__exit__()


def _tls_connect(server) -> ssl.SSLSocket:
    return server.client_context.wrap_socket(server.connect(), server_hostname="127.0.0.1")


def test_https_requests_are_served(tls_server, logs, first_in_process):
    with _tls_connect(tls_server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, body = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"ok"
    assert [r for r in logs if r.name == "berth.http"] == []


def test_a_handshake_byte_inside_tls_is_not_taken_for_a_client_hello(tls_server, logs,
                                                                      first_in_process):
    with _tls_connect(tls_server) as sock:
        sock.sendall(client_hello())
        deadline = time.monotonic() + 10
        answer = b""
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, ConnectionError):  # closed without close_notify
                break
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"plain HTTP" not in answer  # the HTTP parser's own answer, not the TLS refusal
    assert [r for r in logs if r.name == "berth.http"] == []
