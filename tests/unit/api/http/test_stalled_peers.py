"""Peers that stall mid-body hold no thread, and are given up on after the idle limit: many
stalled uploads and stalled downloads at once leave every pool free for other requests."""
from __future__ import annotations

import asyncio
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

from berth.api.http.bodies import request_body
from berth.api.http.responses import SendfileResponse
from berth.concurrency import Limits, blocking, configure, upload_work

from .conftest import serve_app
from .test_protocol import Reader, _get, _post

IDLE = 2.0
# Pools far smaller than the number of stalled peers: one held thread per peer would show.
LIMITS = Limits(metadata_threads=4, upload_threads=2, read_threads=2, idle_seconds=IDLE)
DATA = os.urandom(8 * 1024 * 1024)
STALLED = 60


def make_app(path, events: list):
    async def post_body(request: Request) -> Response:
        h, n = hashlib.sha256(), 0
        try:
            async for data in request_body(request):
                await upload_work(h.update, data)
                n += len(data)
        except ClientDisconnect:
            events.append("disconnect")
            return Response(status_code=400)
        return JSONResponse({"n": n, "sha256": h.hexdigest()})

    async def get_file(request: Request) -> Response:
        fd = os.open(path, os.O_RDONLY)
        return SendfileResponse(fd, 0, len(DATA), 200, {"Content-Length": str(len(DATA))},
                                "application/octet-stream")

    async def work(request: Request) -> Response:
        await blocking(time.sleep, 0.01)
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/body", post_body, methods=["POST"]),
                            Route("/file", get_file), Route("/work", work)])

    configured_loops: set = set()

    async def configured(scope, receive, send):
        # Once per event loop, as the real app's lifespan does: configuring per request would
        # give each request fresh pools, and the limits would bound nothing.
        loop = asyncio.get_running_loop()
        if loop not in configured_loops:
            configured_loops.add(loop)
            configure(LIMITS)
        await app(scope, receive, send)
    return configured


@pytest.fixture
def server(serve, tmp_path):
    return serve_app(serve, tmp_path, make_app, DATA)


def _stall_uploads(server, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = server.connect()
        s.sendall(_post(len(DATA)) + DATA[:1000])
        socks.append(s)
    return socks


def _stall_downloads(server, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = server.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(_get("/file"))
        socks.append(s)
    return socks


def _others_are_served(server) -> None:
    """A metadata request, a whole upload and a whole download, each on a fresh connection,
    answered while the stalled peers wait (each would wait for a pool slot otherwise)."""
    with server.connect() as s:
        s.settimeout(IDLE * 0.8)  # sooner than any stalled peer is given up on
        r = Reader(s)
        s.sendall(_get("/work"))
        assert r.response()[2] == b"done"
        s.sendall(_post(len(DATA)) + DATA)
        assert json.loads(r.response()[2])["sha256"] == hashlib.sha256(DATA).hexdigest()
        s.sendall(_get("/file"))
        assert r.response()[2] == DATA


def _close(socks) -> None:
    for s in socks:
        s.close()


def test_stalled_uploads_hold_no_thread(server):
    threads = threading.active_count()
    socks = _stall_uploads(server, STALLED)
    try:
        time.sleep(0.2)
        _others_are_served(server)
        # Not a thread per stalled upload (the names tell whose threads came, if any).
        assert threading.active_count() < threads + 10, sorted(
            t.name for t in threading.enumerate())
    finally:
        _close(socks)


def test_stalled_downloads_hold_no_thread(server):
    socks = _stall_downloads(server, STALLED)
    try:
        time.sleep(0.2)
        _others_are_served(server)
    finally:
        _close(socks)


def test_an_idle_body_is_given_up_on(server):
    (s,) = _stall_uploads(server, 1)
    with s:
        s.settimeout(IDLE * 5)
        started = time.monotonic()
        status = Reader(s).response()[0]
        assert status == 400 and time.monotonic() - started < IDLE * 4
        assert "disconnect" in server.events
        assert s.recv(100) == b""  # the rest of the body is never read: the connection ends


def test_an_idle_reader_is_cut_off(server):
    (s,) = _stall_downloads(server, 1)
    with s:
        time.sleep(IDLE * 2)  # takes nothing: the server stops waiting for room
        s.settimeout(5)
        received = 0
        with pytest.raises(ConnectionResetError):  # reset: the queued bytes are dropped
            while data := s.recv(1 << 20):
                received += len(data)
        assert received < len(DATA)
