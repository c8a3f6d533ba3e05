"""berth.pullthrough.upstream against a fake registry (http.server in a thread): the Bearer token
flow, and answers a real registry does not give on demand (429, a wrong digest, a redirect to
another host, a slow answer)."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from berth.pullthrough.upstream import Upstream, UpstreamError
from tests.support.log_records import records_of
from tests.support.ports import free_port

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
USER, PASSWORD = "alice", "s3cret-Pa55word"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
REPO = "lib/app"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Answers /v2/ paths from ``manifests`` and ``blobs`` (path -> answer), ``canned`` answers
    first (path -> (status, headers, body) or a callable giving one). With ``bearer``, each
    repository needs a token of its pull scope from /token, which checks Basic USER:PASSWORD
    (anonymous allowed unless ``anonymous`` is False)."""

    def __init__(self, host: str = "127.0.0.1", *, bearer: bool = True, anonymous: bool = True,
                 expires_in: float | None = 300, token_field: str = "token"):
        self.bearer, self.anonymous = bearer, anonymous
        self.expires_in, self.token_field = expires_in, token_field
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.canned: dict[str, object] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens: dict[str, str] = {}  # token -> scope
        self.server = ThreadingHTTPServer((host, 0), _handler(self))
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token_requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[1].startswith("/token")]

    def answer(self, path: str, headers) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(path)
        if url.path == "/token":
            return self._token(parse_qs(url.query), headers.get("Authorization"))
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/[^/]+", url.path)
        scope = f"repository:{match[1]}:pull" if match else None
        if self.bearer and not self._authorized(scope, headers.get("Authorization", "")):
            challenge = f'Bearer realm="{self.url}/token",service="fake"'
            challenge += f',scope="{scope}"' if scope else ""
            return 401, {"WWW-Authenticate": challenge}, b""
        if url.path == "/v2/":
            return 200, {}, b"{}"
        if url.path in self.canned:
            canned = self.canned[url.path]
            return canned() if callable(canned) else canned
        if url.path in self.manifests:
            media_type, body = self.manifests[url.path]
            return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest_of(body)}, body
        if url.path in self.blobs:
            return 200, {"Content-Type": "application/octet-stream"}, self.blobs[url.path]
        return 404, {}, json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN"}]}).encode()

    def _authorized(self, scope: str | None, authorization: str) -> bool:
        token = authorization.removeprefix("Bearer ")
        return token in self.tokens and (scope is None or self.tokens[token] == scope)

    def _token(self, query: dict[str, list[str]], authorization: str | None):
        if authorization != BASIC and (authorization or not self.anonymous):
            return 401, {}, b'{"errors": [{"code": "UNAUTHORIZED"}]}'
        token = secrets.token_hex(16)
        self.tokens[token] = query.get("scope", [""])[0]
        answer = {self.token_field: token}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def _handler(fake: FakeRegistry):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self._reply(with_body=True)

        def do_HEAD(self) -> None:
            self._reply(with_body=False)

        def _reply(self, with_body: bool) -> None:
            fake.requests.append((self.command, self.path, dict(self.headers)))
            status, headers, body = fake.answer(self.path, self.headers)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

    return Handler


@pytest.fixture
def fake():
    registry = FakeRegistry()
    yield registry
    registry.close()


def _manifest(fake: FakeRegistry, repo: str = REPO, tag: str = "v1") -> bytes:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "tag": tag}).encode()
    fake.manifests[f"/v2/{repo}/manifests/{tag}"] = (OCI_MANIFEST, body)
    fake.manifests[f"/v2/{repo}/manifests/{digest_of(body)}"] = (OCI_MANIFEST, body)
    return body


def _bearer_requests(fake: FakeRegistry) -> list[str]:
    return [h.get("Authorization", "") for _, path, h in fake.requests if path.startswith("/v2/")]


def test_bearer_token_is_fetched_once_per_scope_and_reused(fake):
    body = _manifest(fake)
    upstream = Upstream(fake.url, (USER, PASSWORD))
    for _ in range(3):
        found = upstream.manifest(REPO, "v1", [OCI_MANIFEST, DOCKER_MANIFEST])
        assert (found.content, found.digest) == (body, digest_of(body))
        assert found.media_type == OCI_MANIFEST
    assert upstream.manifest_digest(REPO, digest_of(body), [OCI_MANIFEST]) == digest_of(body)
    assert len(fake.token_requests()) == 1
    _, path, headers = fake.token_requests()[0]
    assert parse_qs(urlsplit(path).query) == {
        "service": ["fake"], "scope": [f"repository:{REPO}:pull"], "account": [USER]}
    assert headers["Authorization"] == BASIC
    auths = _bearer_requests(fake)
    assert auths[0] == "" and all(a.startswith("Bearer ") for a in auths[1:]) and len(auths) == 5
    accepts = [h.get("Accept") for _, path, h in fake.requests if "/manifests/" in path]
    assert accepts[0] == f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
    upstream.close()


def test_each_repository_gets_its_own_token(fake):
    _manifest(fake, "lib/one"), _manifest(fake, "lib/two")
    upstream = Upstream(fake.url)
    for repo in ("lib/one", "lib/two", "lib/one", "lib/two"):
        upstream.manifest(repo, "v1", [OCI_MANIFEST])
    scopes = sorted(parse_qs(urlsplit(p).query)["scope"][0] for _, p, _ in fake.token_requests())
    assert scopes == ["repository:lib/one:pull", "repository:lib/two:pull"]
    assert all("Authorization" not in h for _, _, h in fake.token_requests())  # anonymous


def test_expired_token_is_fetched_again():
    fake = FakeRegistry(expires_in=1, token_field="access_token")  # kept half its lifetime
    try:
        _manifest(fake)
        upstream = Upstream(fake.url)
        upstream.manifest(REPO, "v1", [OCI_MANIFEST])
        upstream.manifest(REPO, "v1", [OCI_MANIFEST])
        assert len(fake.token_requests()) == 1
        time.sleep(0.7)
        upstream.manifest(REPO, "v1", [OCI_MANIFEST])
        assert len(fake.token_requests()) == 2
    finally:
        fake.close()


def test_a_token_the_upstream_forgot_is_replaced(fake):
    _manifest(fake)
    upstream = Upstream(fake.url)
    upstream.manifest(REPO, "v1", [OCI_MANIFEST])
    fake.tokens.clear()  # revoked, or the upstream restarted
    upstream.manifest(REPO, "v1", [OCI_MANIFEST])
    assert len(fake.token_requests()) == 2


def test_threads_share_the_token(fake):
    _manifest(fake)
    upstream = Upstream(fake.url, (USER, PASSWORD))
    upstream.check()  # warms the pool's first connection; /v2/ has its own token
    upstream.manifest(REPO, "v1", [OCI_MANIFEST])
    with ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lambda _: upstream.manifest(REPO, "v1", [OCI_MANIFEST]), range(64)))
    assert len({m.digest for m in found}) == 1
    assert len(fake.token_requests()) == 2


def test_refused_credentials_and_missing_ones_are_denied():
    fake = FakeRegistry(anonymous=False)
    try:
        _manifest(fake)
        with pytest.raises(UpstreamError) as wrong:
            Upstream(fake.url, (USER, "not-the-password")).manifest(REPO, "v1", [OCI_MANIFEST])
        assert (wrong.value.code, wrong.value.status) == ("denied", 401)
        assert "not-the-password" not in str(wrong.value)
        with pytest.raises(UpstreamError) as anonymous:
            Upstream(fake.url).check()
        assert anonymous.value.code == "denied"
    finally:
        fake.close()


def test_rate_limited_and_server_errors(fake):
    path = f"/v2/{REPO}/manifests/v1"
    fake.canned[path] = (429, {"Retry-After": "7"}, b'{"errors": [{"code": "TOOMANYREQUESTS"}]}')
    upstream = Upstream(fake.url)
    with pytest.raises(UpstreamError) as limited:
        upstream.manifest(REPO, "v1", [OCI_MANIFEST])
    assert (limited.value.code, limited.value.status) == ("rate_limited", 429)
    assert limited.value.retry_after == 7.0
    fake.canned[path] = (503, {}, b"down for maintenance")
    with pytest.raises(UpstreamError) as down:
        upstream.manifest_digest(REPO, "v1", [OCI_MANIFEST])
    assert (down.value.code, down.value.status) == ("unavailable", 503)
    assert upstream.manifest_digest(REPO, "v2", [OCI_MANIFEST]) is None


def test_connection_refused_and_timeout_are_unavailable(fake):
    with pytest.raises(UpstreamError) as refused:
        Upstream(f"http://127.0.0.1:{free_port()}").check()
    assert (refused.value.code, refused.value.status) == ("unavailable", None)

    def slow():
        time.sleep(1.5)
        return 200, {}, b"{}"
    fake.canned[f"/v2/{REPO}/manifests/v1"] = slow
    with pytest.raises(UpstreamError) as timed_out:
        Upstream(fake.url, timeout=0.3).manifest(REPO, "v1", [OCI_MANIFEST])
    assert timed_out.value.code == "unavailable"


def test_answers_that_do_not_match_are_invalid(fake):
    body = _manifest(fake)
    other = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "x": 1}).encode()
    fake.manifests[f"/v2/{REPO}/manifests/{digest_of(body)}"] = (OCI_MANIFEST, other)
    fake.manifests[f"/v2/{REPO}/manifests/big"] = (OCI_MANIFEST, b" " * (4 * 1024 * 1024 + 1))
    fake.canned[f"/v2/{REPO}/manifests/nodigest"] = (200, {}, b"")
    layer = b"layer bytes" * 1000
    fake.blobs[f"/v2/{REPO}/blobs/{digest_of(b'something else')}"] = layer
    upstream = Upstream(fake.url)
    for call in (lambda: upstream.manifest(REPO, digest_of(body), [OCI_MANIFEST]),
                 lambda: upstream.manifest(REPO, "big", [OCI_MANIFEST]),
                 lambda: upstream.manifest_digest(REPO, "nodigest", [OCI_MANIFEST]),
                 lambda: b"".join(upstream.blob(REPO, digest_of(b"something else")))):
        with pytest.raises(UpstreamError) as invalid:
            call()
        assert invalid.value.code == "invalid"
    assert upstream.manifest(REPO, "v1", [OCI_MANIFEST]).content == body  # the pool still works


def test_media_type_falls_back_to_the_manifests_own(fake):
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST}).encode()
    fake.manifests[f"/v2/{REPO}/manifests/v1"] = ("application/json; charset=utf-8", body)
    fake.manifests[f"/v2/{REPO}/manifests/v2"] = (f"{OCI_MANIFEST}; charset=utf-8", body)
    upstream = Upstream(fake.url)
    assert upstream.manifest(REPO, "v1", [DOCKER_MANIFEST]).media_type == DOCKER_MANIFEST
    assert upstream.manifest(REPO, "v2", [OCI_MANIFEST]).media_type == OCI_MANIFEST


def test_blob_redirect_to_another_host_drops_authorization(fake):
    cdn = FakeRegistry("127.0.0.2", bearer=False)
    try:
        layer = secrets.token_bytes(3 * 1024 * 1024 + 5)
        cdn.blobs["/bucket/layer"] = layer
        location = f"{cdn.url}/bucket/layer?X-Amz-Signature=presigned"
        fake.canned[f"/v2/{REPO}/blobs/{digest_of(layer)}"] = (307, {"Location": location}, b"")
        with Upstream(fake.url, (USER, PASSWORD)).blob(REPO, digest_of(layer)) as blob:
            assert blob.size == len(layer)
            assert b"".join(blob) == layer
        assert _bearer_requests(fake)[-1].startswith("Bearer ")
        assert [p for _, p, _ in cdn.requests] == ["/bucket/layer?X-Amz-Signature=presigned"]
        assert "Authorization" not in cdn.requests[0][2]
    finally:
        cdn.close()


def test_no_credential_or_token_in_messages_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    _manifest(fake)
    messages = []
    with records_of("berth", "urllib3") as records:
        upstream = Upstream(fake.url, (USER, PASSWORD))
        upstream.manifest(REPO, "v1", [OCI_MANIFEST])
        fake.canned[f"/v2/{REPO}/manifests/v2"] = (403, {}, b'{"errors": [{"code": "DENIED"}]}')
        fake.canned[f"/v2/{REPO}/manifests/v4"] = (401, {"WWW-Authenticate": "Basic"}, b"")
        for call in (lambda: upstream.manifest(REPO, "v2", [OCI_MANIFEST]),
                     lambda: upstream.manifest(REPO, "v4", [OCI_MANIFEST]),
                     lambda: upstream.blob(REPO, digest_of(b"absent")),
                     lambda: upstream.manifest(REPO, "v3", []),
                     lambda: Upstream(f"http://127.0.0.1:{free_port()}", (USER, PASSWORD)).check(),
                     lambda: Upstream(f"https://{USER}:{PASSWORD}@example.com")):
            with pytest.raises((UpstreamError, ValueError)) as failed:
                call()
            messages.append(str(failed.value))
            messages.append(repr(failed.value))
    secrets_seen = [PASSWORD, BASIC.split()[1], *fake.tokens]
    assert len(secrets_seen) > 2  # tokens were issued
    texts = messages + [r.getMessage() for r in [*caplog.records, *records]]
    assert not [(s, t) for s in secrets_seen for t in texts if s in t]
