"""The webhook sender (notifications/sender.py) against real HTTP servers on loopback: a POST
arrives with its headers and body; kept-alive connections are used again (one connection for
many POSTs); an answer that is not 2xx fails the attempt (the receiver answered), a refused
connection or a receiver that never answers fails it as unreachable; a kept-alive connection
the receiver closed meanwhile is opened afresh, once; HTTPS checks the receiver's certificate
against the trusted CAs, as curl does; informational answers are passed over, an answer
without a length ends with its connection, a large error answer is not read; the request
names its host, its path is percent-quoted and no header can carry a line break."""
from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berth.notifications.sender import MAX_ERROR_BODY, DeliveryFailed, Sender
from tests.support.certificates import issue_pair, new_ca
from tests.support.ports import free_port


class Receiver:
    def __init__(self, status: int = 200, keep_alive: bool = True, tls=None):
        receiver = self
        self.posts: list[tuple[str, dict, bytes]] = []
        self.connections: set[tuple] = set()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, dict(self.headers), body))
                receiver.connections.add(self.client_address)
                answer = b"no" if status >= 300 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/hook?team=a"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.close()


def test_posts_arrive_and_one_connection_carries_them(receiver):
    sender = Sender(5.0)
    for n in range(3):
        sender.post(receiver.url(), b'{"n": %d}' % n, {"Content-Type": "application/json",
                                                        "X-Berth-Delivery": f"d{n}"})
    assert [(path, body) for path, _, body in receiver.posts] == [
        ("/hook?team=a", b'{"n": 0}'), ("/hook?team=a", b'{"n": 1}'), ("/hook?team=a", b'{"n": 2}')]
    assert [headers["X-Berth-Delivery"] for _, headers, _ in receiver.posts] == ["d0", "d1", "d2"]
    assert len(receiver.connections) == 1


def test_an_answer_that_is_not_2xx_fails_the_attempt_but_not_the_target():
    failing = Receiver(status=500)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            Sender(5.0).post(failing.url(), b"{}", {})
        assert str(failed.value) == "HTTP 500" and failed.value.unreachable is False
    finally:
        failing.close()


def test_a_refused_connection_and_a_silent_receiver_are_unreachable():
    with pytest.raises(DeliveryFailed) as refused:
        Sender(5.0).post(f"http://127.0.0.1:{free_port()}/", b"{}", {})
    assert refused.value.unreachable is True
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers
    try:
        with pytest.raises(DeliveryFailed) as timed_out:
            Sender(0.3).post(f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {})
        assert timed_out.value.unreachable is True
    finally:
        silent.close()


def test_a_connection_the_receiver_closed_is_opened_afresh():
    closing = Receiver(keep_alive=False)  # HTTP/1.0: it closes after each answer
    try:
        sender = Sender(5.0)
        for _ in range(3):
            sender.post(closing.url(), b"{}", {})
        assert len(closing.posts) == 3 and len(closing.connections) == 3
    finally:
        closing.close()


def test_a_kept_alive_connection_the_receiver_dropped_is_opened_afresh_once():
    """The receiver answers as if it kept the connection, then drops it (an idle timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        sender = Sender(5.0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        for _ in range(3):
            sender.post(url, b"", {})
        assert len(accepted) == 3
    finally:
        listener.close()


def test_https_checks_the_receivers_certificate(tmp_path, monkeypatch):
    ca = new_ca(tmp_path / "ca")
    issue_pair(ca, tmp_path / "server.crt", tmp_path / "server.key", ["127.0.0.1"])
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    secure = Receiver(tls=tls)
    try:
        with pytest.raises(DeliveryFailed) as untrusted:
            Sender(5.0).post(secure.url("https"), b"{}", {})
        assert untrusted.value.unreachable is True and "CERTIFICATE_VERIFY_FAILED" in str(
            untrusted.value)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert_path))  # the deployment trusts the CA
        Sender(5.0).post(secure.url("https"), b'{"ok": 1}', {})
        assert [body for _, _, body in secure.posts] == [b'{"ok": 1}']
    finally:
        secure.close()


class Canned:
    """A receiver that answers every request on a connection with the same bytes, then
    closes the connection if told to; it keeps each request's head."""

    def __init__(self, answer: bytes, close: bool = False):
        self.heads: list[bytes] = []
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, args=(answer, close), daemon=True).start()

    def _serve(self, answer: bytes, close: bool) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn, answer, close),
                             daemon=True).start()

    def _answer(self, conn: socket.socket, answer: bytes, close: bool) -> None:
        with conn, contextlib.suppress(OSError):  # the sender may go mid-answer
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")))
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                self.heads.append(head)
                conn.sendall(answer)
                if close:
                    return

    def close(self) -> None:
        self.listener.close()


def test_an_informational_answer_before_the_final_one_is_passed_over():
    canned = Canned(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"
                    b"Content-Length: 2\r\n\r\nok")
    try:
        sender = Sender(5.0)
        for _ in range(2):
            sender.post(canned.url + "/", b"{}", {})
        assert (len(canned.heads), canned.connections) == (2, 1)  # kept alive
    finally:
        canned.close()


def test_an_answer_whose_body_ends_with_the_connection_is_read():
    canned = Canned(b"HTTP/1.0 200 OK\r\n\r\nthanks", close=True)  # no length: until EOF
    try:
        sender = Sender(5.0)
        for _ in range(2):
            sender.post(canned.url + "/", b"{}", {})
        assert (len(canned.heads), canned.connections) == (2, 2)
    finally:
        canned.close()


def test_a_large_error_answer_is_not_read_and_its_connection_goes():
    large = os.urandom(MAX_ERROR_BODY * 4)
    canned = Canned(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(large) + large)
    try:
        sender = Sender(5.0)
        for _ in range(2):
            with pytest.raises(DeliveryFailed, match="HTTP 500") as failed:
                sender.post(canned.url + "/", b"{}", {})
            assert failed.value.unreachable is False
        assert canned.connections == 2
    finally:
        canned.close()


def test_the_request_names_its_host_and_a_quoted_path():
    canned = Canned(b"HTTP/1.1 204 No Content\r\n\r\n")
    try:
        Sender(5.0).post(canned.url + "/a b/ü?q=1 2&r=%41", b"{}", {"X-Berth-Delivery": "d1"})
        line, *fields = canned.heads[0].decode("latin-1").split("\r\n")
        assert line == "POST /a%20b/%C3%BC?q=1%202&r=%41 HTTP/1.1"
        assert f"Host: {canned.url.removeprefix('http://')}" in fields
        assert "X-Berth-Delivery: d1" in fields and "Content-Length: 2" in fields
        with pytest.raises(DeliveryFailed, match="line break"):
            Sender(5.0).post(canned.url + "/", b"{}", {"X-Bad": "a\r\nInjected: 1"})
        assert len(canned.heads) == 1
    finally:
        canned.close()
