"""A real uvicorn server with Berth's HTTP protocol, in a thread, around a small test app."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from berth.api.http.protocol import BerthHttpProtocol


class ServerThread:
    def __init__(self, app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.sock = sock
        # log_config=None: no handler of uvicorn's holding a stream pytest closes later.
        config = uvicorn.Config(app, http=BerthHttpProtocol, loop="uvloop", lifespan="off",
                                log_level="warning", log_config=None, timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s


@pytest.fixture
def serve():
    servers: list[ServerThread] = []

    def start(app) -> ServerThread:
        server = ServerThread(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def serve_app(serve, tmp_path, make_app, data: bytes) -> ServerThread:
    """``make_app(path, events)`` served, with ``data`` in the file at ``path``; the events
    the app records are the server's ``events``."""
    path = tmp_path / "blob"
    path.write_bytes(data)
    events: list = []
    server = serve(make_app(path, events))
    server.events = events
    return server
