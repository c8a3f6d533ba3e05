"""Berth's uvicorn protocol over real sockets: files sent with sendfile, bodies read off the
socket on the loop, and HTTP/1.1 (keep-alive, pipelining, 100-continue) still right."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from berth.api.http import socket_io
from berth.api.http.protocol import SOCKET_BODY
from berth.api.http.responses import ChunksResponse, SendfileResponse, sends_in_thread

from .conftest import serve_app

DATA = os.urandom(3 * 1024 * 1024 + 17)


async def _digest_all(chunks) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    try:
        async for data in chunks:
            h.update(data)
            n += len(data)
    finally:
        chunks.close()
    return h.hexdigest(), n


def make_app(path, events: list):
    async def get_file(request: Request) -> Response:
        if not sends_in_thread(request):
            return PlainTextResponse("no sendfile", status_code=501)
        offset = int(request.query_params.get("offset", 0))
        count = int(request.query_params.get("count", len(DATA) - offset))
        fd = os.open(path, os.O_RDONLY)
        events.append(("open", fd))
        return SendfileResponse(fd, offset, count, 200, {"Content-Length": str(count)},
                                "application/octet-stream")

    async def post_body(request: Request) -> Response:
        extension = request.scope.get("extensions", {}).get(SOCKET_BODY)
        try:
            if extension is None:
                data = b"".join([part async for part in request.stream()])
                digest, n = hashlib.sha256(data).hexdigest(), len(data)
            else:
                digest, n = await _digest_all(await extension["take"]())
        except ClientDisconnect:
            events.append(("disconnect", None))
            return Response(status_code=400)
        events.append(("body", n))
        return JSONResponse({"taken": extension is not None, "sha256": digest, "n": n})

    async def get_chunks(request: Request) -> Response:
        """DATA in 100 KB chunks; ?fail=N raises after N chunks, ?extra=1 overruns the length."""
        fail = int(request.query_params.get("fail", -1))
        extra = request.query_params.get("extra") == "1"

        def chunks():
            try:
                for i in range(0, len(DATA), 100_000):
                    if i // 100_000 == fail:
                        raise ValueError("the source failed")
                    yield DATA[i:i + 100_000]
                if extra:
                    yield b"more"
            finally:
                events.append(("chunks closed", None))

        return ChunksResponse(chunks(), 200, {"Content-Length": str(len(DATA))},
                              "application/octet-stream")

    async def reject(request: Request) -> Response:
        return PlainTextResponse("no", status_code=400)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("pong")

    return Starlette(routes=[Route("/file", get_file, methods=["GET", "HEAD"]),
                             Route("/body", post_body, methods=["POST"]),
                             Route("/reject", reject, methods=["POST"]),
                             Route("/chunks", get_chunks),
                             Route("/ping", ping)])


@pytest.fixture(params=["direct", "read-ahead"])
def chunk_source(request, monkeypatch):
    """Chunks iterated by the sending thread itself, or one ahead by a second thread."""
    if request.param == "read-ahead":
        monkeypatch.setattr(socket_io, "READ_AHEAD_BYTES", 1)
    return request.param


@pytest.fixture
def server(serve, tmp_path):
    return serve_app(serve, tmp_path, make_app, DATA)


class Reader:
    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        if status == 100:
            return status, headers, b""
        n = 0 if head_only else int(headers.get("content-length", 0))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body


def _post(length: int, extra: str = "") -> bytes:
    return (f"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n{extra}\r\n").encode()


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def _reset_mid_response(server, path: str) -> None:
    """Ask for ``path`` with a tiny receive window, then reset the connection mid-response."""
    s = server.connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(_get(path))
    s.recv(100)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def _wait_for(server, event) -> None:
    deadline = time.monotonic() + 5
    while event not in server.events:
        assert time.monotonic() < deadline, server.events
        time.sleep(0.02)


def _still_serving(server) -> None:
    with server.connect() as s:
        s.sendall(_get("/ping"))
        assert Reader(s).response()[2] == b"pong"


def test_file_is_sent_whole_and_in_ranges_on_one_connection(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_get("/file"))
        status, headers, body = r.response()
        assert (status, int(headers["content-length"])) == (200, len(DATA))
        assert body == DATA
        s.sendall(_get("/file?offset=1000&count=70000"))
        assert r.response()[2] == DATA[1000:71000]
        s.sendall(_get("/ping"))
        assert r.response()[2] == b"pong"


def test_head_sends_no_file_bytes(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_get("/file", "HEAD") + _get("/ping"))
        status, headers, _ = r.response(head_only=True)
        assert (status, headers["content-length"]) == (200, str(len(DATA)))
        assert r.response()[2] == b"pong"  # not file bytes: the next answer comes right after


def _open_under(folder) -> int:
    """Descriptors of this process open on files under ``folder`` (other tests' threads open
    and close their own meanwhile: only the served file's count says anything)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
        except OSError:
            continue  # closed while we looked
    return found


def test_file_descriptors_are_closed(server, tmp_path):
    before = _open_under(tmp_path)
    for _ in range(20):
        with server.connect() as s:
            s.sendall(_get("/file?offset=5&count=10"))
            assert Reader(s).response()[2] == DATA[5:15]
    time.sleep(0.2)
    assert _open_under(tmp_path) == before


def test_client_gone_during_sendfile_leaves_the_server_serving(server):
    _reset_mid_response(server, "/file")
    time.sleep(0.3)
    _still_serving(server)


def test_body_is_taken_off_the_socket(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_post(len(DATA)) + DATA)
        status, _, body = r.response()
        assert status == 200
        assert json.loads(body) == {"taken": True, "n": len(DATA),
                                    "sha256": hashlib.sha256(DATA).hexdigest()}


def test_pipelined_request_after_a_taken_body_is_answered(server):
    """The thread reads exactly the body: the request sent right behind it stays for the
    server, whose parser starts afresh at the boundary."""
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_post(len(DATA)) + DATA + _get("/ping") + _post(5) + b"hello")
        first = json.loads(r.response()[2])
        assert (first["taken"], first["n"]) == (True, len(DATA))
        assert r.response()[2] == b"pong"
        last = json.loads(r.response()[2])
        assert last["sha256"] == hashlib.sha256(b"hello").hexdigest()


def test_body_sent_slowly_in_pieces(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_post(300_000))
        for i in range(3):
            time.sleep(0.05)
            s.sendall(DATA[i * 100_000:(i + 1) * 100_000])
        body = json.loads(r.response()[2])
        assert body["sha256"] == hashlib.sha256(DATA[:300_000]).hexdigest()


def test_expect_100_continue_is_answered_before_the_body(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_post(1000, "Expect: 100-continue\r\n"))
        assert r.response()[0] == 100
        s.sendall(DATA[:1000])
        assert json.loads(r.response()[2])["n"] == 1000


def test_chunked_body_goes_through_receive(server):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        assert json.loads(r.response()[2]) == {
            "taken": False, "n": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}


def test_client_gone_mid_body_is_a_disconnect_and_the_server_goes_on(server):
    s = server.connect()
    s.sendall(_post(len(DATA)) + DATA[:200_000])
    time.sleep(0.1)
    s.close()
    _wait_for(server, ("disconnect", None))
    _still_serving(server)


def test_body_left_unread_keeps_the_connection_usable(server):
    """A handler that answers without taking the body: uvicorn's own path drains it."""
    with server.connect() as s:
        r = Reader(s)
        s.sendall(b"POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert r.response()[0] == 400
        s.sendall(_get("/ping"))
        assert r.response()[2] == b"pong"


def test_chunks_are_sent_from_a_thread_and_the_source_closed(server, chunk_source):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_get("/chunks") + _get("/ping"))
        status, headers, body = r.response()
        assert (status, body == DATA) == (200, True)
        assert r.response()[2] == b"pong"
    assert ("chunks closed", None) in server.events


def test_a_failing_source_cuts_the_response(server, chunk_source):
    """Past the headers no error response is possible: the connection is closed early, so
    the client sees a short body rather than a wrong one."""
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_get("/chunks?fail=3"))
        with pytest.raises(EOFError):
            r.response()
        assert r.buf == DATA[:300_000]  # what came before the failure, and no more
    assert ("chunks closed", None) in server.events
    _still_serving(server)


def test_bytes_past_the_content_length_are_never_sent(server, chunk_source):
    with server.connect() as s:
        r = Reader(s)
        s.sendall(_get("/chunks?extra=1") + _get("/ping"))
        assert r.response()[2] == DATA
        with pytest.raises(EOFError):  # closed: neither "more" nor the pipelined answer
            r.response()
        assert r.buf == b""


def test_client_gone_while_reading_ahead_stops_the_source(server, chunk_source):
    _reset_mid_response(server, "/chunks")
    _wait_for(server, ("chunks closed", None))
    assert not [t for t in threading.enumerate() if t.name == "berth-read-ahead"]
