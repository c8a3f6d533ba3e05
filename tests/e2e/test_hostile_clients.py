"""Hostile clients against a real one-worker server: hundreds of stalled uploads from one
tenant, and a stream of oversized ECR bodies from a key with no permissions, while another
principal pushes and pulls. No thread is held by a stalled body, an over-limit tenant gets
429 TOOMANYREQUESTS, idle bodies are dropped after the idle limit, no oversized body is read
whole, and no worker dies."""
from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.config import Settings
from berth.iam.wiring import open_iam
from berth.storage.metadata.database import Database
from tests.support.berth_node import BerthNode
from tests.support.credentials import basic
from tests.support.oci_push import digest_of, push_blob, push_image

pytestmark = pytest.mark.e2e

IDLE = 8
STALLED = 200
PUSH_ONLY_OWN = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:*",
     "Resource": "arn:aws:ecr:*:*:repository/mallory/*"},
    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}
# A generous bound on one victim operation: stuck behind stalled bodies it would wait for the
# idle limit at least; here it must not wait for them at all.
PROMPT = IDLE * 0.75


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("hostile"), env={
        "BERTH_WORKERS": "1", "BERTH_BODY_IDLE_SECONDS": str(IDLE),
        "BERTH_UPLOADS_PER_PRINCIPAL": str(STALLED), "BERTH_UPLOADS_PER_ADDRESS": "100000",
        "BERTH_UPLOAD_THREADS": "4", "BERTH_METADATA_THREADS": "8"}).start()
    db = Database(Settings(data_dir=node.data_dir).database_url)
    iam = open_iam(Settings(data_dir=node.data_dir), db)
    home = iam.tenancy.default.account_id
    for name, policy in (("mallory", PUSH_ONLY_OWN), ("noperm", None)):
        iam.identities.create_user(home, name)
        if policy:
            iam.identities.put_user_policy(home, name, "p", json.dumps(policy))
        key = iam.identities.create_access_key(home, name)
        node.__dict__[name] = (key.id, key.secret, iam.tokens.mint(key.id)[0])
    db.dispose()
    try:
        yield node
    finally:
        node.stop()


def _worker_pids(node) -> set[int]:
    root = node.daemon.proc.pid
    children = open(f"/proc/{root}/task/{root}/children").read().split()
    return {int(pid) for pid in children}


def _stall_upload(node, token: str, repo: str) -> socket.socket:
    """A PATCH that declares 10 MB, sends 1,000 bytes and then nothing."""
    session = requests.post(f"{node.url}/v2/{repo}/blobs/uploads/",
                            headers={"Authorization": basic(token)}, timeout=10)
    assert session.status_code == 202, session.text
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=30)
    sock.sendall((f"PATCH {session.headers['Location']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: {basic(token)}\r\nContent-Length: 10000000\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * 1000)
    return sock


def _timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _victim_pushes_and_pulls(node, name: str) -> list[float]:
    session = node.session()
    layer = os.urandom(3 * 1024 * 1024)
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": name}).encode()
    took = [_timed(lambda: push_image(session, node.url, "victim/app", name, config, [layer]))]
    took.append(_timed(lambda: session.get(f"{node.url}/v2/victim/app/manifests/{name}",
                                           timeout=30).raise_for_status()))
    blob = session.get(f"{node.url}/v2/victim/app/blobs/{digest_of(layer)}", timeout=30)
    assert blob.content == layer
    took.append(blob.elapsed.total_seconds())
    return took


def _whole_answer(sock) -> str:
    """A response's head and its body (Content-Length long): they may come in two segments."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def test_stalled_uploads_starve_no_one_and_are_dropped(node):
    token = node.mallory[2]
    workers = _worker_pids(node)
    stalled = [_stall_upload(node, token, "mallory/web") for _ in range(STALLED)]
    try:
        time.sleep(0.5)
        for attempt in range(3):
            took = _victim_pushes_and_pulls(node, f"t{attempt}")
            assert max(took) < PROMPT, took
        # The tenant's next body is refused at once: its place count is full.
        extra = _stall_upload(node, token, "mallory/web")
        with extra:
            extra.settimeout(PROMPT)
            answer = _whole_answer(extra)
        assert answer.startswith("HTTP/1.1 429"), answer
        assert '"TOOMANYREQUESTS"' in answer
        # Every stalled body is given up on once idle: the server closes each connection.
        deadline = time.monotonic() + IDLE * 4
        for sock in stalled:
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 400"), reply[:200]  # then closed
            assert b"connection: close" in reply.lower()
    finally:
        for sock in stalled:
            sock.close()
    # Places are given back: the tenant may upload again; no worker was replaced.
    session = requests.Session()
    session.headers["Authorization"] = basic(token)
    push_blob(session, node.url, "mallory/web", b"after the storm")
    assert _worker_pids(node) == workers


def _signed_oversized(node, key_id: str, secret: str, size: int) -> bytes:
    """A SigV4-signed DescribeRepositories of ``size`` bytes (valid JSON), sent raw; the
    server's answer, read while the body is still being sent if it answers early."""
    names = json.dumps(["x" * 1000] * (size // 1004))
    body = ('{"repositoryNames": ' + names + "}").encode()
    request = AWSRequest("POST", node.url + "/", data=body, headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(key_id, secret), "ecr", "us-east-1").add_auth(request)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in request.headers.items()) + \
        f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            sock.sendall(body[:1024 * 1024])
        except OSError:
            pass  # answered and closed before the body: as it should
        return sock.recv(65536)


def test_oversized_ecr_bodies_from_a_key_without_permissions_stall_no_one(node):
    key_id, secret, _ = node.noperm
    workers = _worker_pids(node)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(_signed_oversized, node, key_id, secret, 31_000_000)
                   for _ in range(24)]
        for attempt in range(3):
            took = _victim_pushes_and_pulls(node, f"e{attempt}")
            assert max(took) < PROMPT, took
        replies = [f.result() for f in answers]
    for reply in replies:
        assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
        assert b"RequestEntityTooLargeException" in reply
    assert _worker_pids(node) == workers
