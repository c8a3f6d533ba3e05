"""Webhooks for end-to-end tests: a receiver on a loopback port (a threaded http.server that
records every POST) and a node's event-target admin API called in this process, so any e2e test
can watch the EventBridge events a running Berth sends."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.credentials import Credentials

from berth.cli.admin_client import AdminClient
from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.ports import free_port, wait_until


class Receiver:
    """A webhook receiver on a loopback port: records every POST, answers 200."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[tuple[str, dict, dict, bytes]] = []  # path, headers, event, body
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.received.append((self.path, dict(self.headers), json.loads(body),
                                              body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, path: str | None = None) -> list[tuple[dict, dict, bytes]]:
        with self._lock:
            return [(h, e, b) for p, h, e, b in self.received if path is None or p == path]


class Admin:
    """The node's admin API in this process (``berth admin --endpoint-url`` costs a Python
    start per call; the CLI itself is run where it is what is tested)."""

    def __init__(self, node: BerthNode):
        key = admin_key(node.credentials_dir)
        self.client = AdminClient.__new__(AdminClient)
        self.client.url, self.client.region, self.client.timeout = (
            node.url + "/admin", "us-east-1", 30.0)
        self.client.credentials = Credentials(key.id, key.secret)

    def __call__(self, operation: str, **params) -> dict:
        return self.client.call(operation, params)

    def put(self, name: str, url: str, pattern: dict | None = None, **more) -> dict:
        return self("PutEventTarget", Name=name, Url=url,
                    EventPattern=None if pattern is None else json.dumps(pattern), **more)

    def delete(self, *names: str) -> None:
        for name in names:
            self("DeleteEventTarget", Name=name)

    def deliveries(self, target: str) -> list[dict]:
        return self("ListEventDeliveries", TargetName=target)["Deliveries"]


class Webhooks:
    """Receivers each told one detail-type's events by a target of the accounts named (none:
    the administrator's own); as a context, its targets are deleted and its receivers stopped
    at the end, so the next tests' events go nowhere."""

    def __init__(self):
        self._made: list[tuple[Receiver, Admin, str, tuple[str, ...]]] = []

    def __enter__(self) -> "Webhooks":
        return self

    def __exit__(self, *exc) -> None:
        for receiver, admin, name, accounts in self._made:
            for account in accounts or (None,):
                admin("DeleteEventTarget", Name=name, **_of(account))
            receiver.stop()
        self._made = []

    def watch(self, node: BerthNode, detail_type: str, *accounts: str) -> Receiver:
        receiver, admin = Receiver().start(), Admin(node)
        name = f"e2e-watch-{len(self._made)}"
        self._made.append((receiver, admin, name, accounts))
        for account in accounts or (None,):
            admin.put(name, receiver.url, {"detail-type": [detail_type]}, **_of(account))
        return receiver


def _of(account: str | None) -> dict:
    return {} if account is None else {"AccountId": account}


def detail_types(receiver: Receiver, detail_type: str) -> list[dict]:
    return [e for _, e, _ in receiver.events() if e["detail-type"] == detail_type]


def wait_for(receiver: Receiver, detail_type: str, count: int = 1,
             timeout: float = 30) -> list[dict]:
    """The receiver's events of ``detail_type`` once ``count`` have come (AssertionError if
    they do not in ``timeout`` seconds)."""
    assert wait_until(lambda: len(detail_types(receiver, detail_type)) >= count, timeout), \
        receiver.received
    return detail_types(receiver, detail_type)
