"""Event notifications end to end: webhook targets put with `berth admin events` (online), docker
pushes to a Berth node, and real HTTP receivers (threaded http.server on loopback ports) that
get ECR's EventBridge events -- signed, with delivery and event ids, in order per repository,
all of them after a receiver comes back, none twice per successful delivery id. (The
receiver and the admin client are tests/support/webhooks.py's, which the replication,
pull-through and lifecycle e2e tests use to watch their own events.)"""
from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.berth_node import BerthNode
from tests.support.dockerd import Dockerd
from tests.support.gc import admin_online, clean_env
from tests.support.log_watch import LOGS
from tests.support.ports import wait_until
from tests.support.tarballs import make_tar
from tests.support.webhooks import Admin, Receiver

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[BerthNode]:
    started = BerthNode(tmp_path_factory.mktemp("notify"), extra_args=("--workers", "1"), env={
        "BERTH_NOTIFICATION_BACKOFF_SECONDS": "1", "BERTH_NOTIFICATION_TIMEOUT_SECONDS": "2",
        "BERTH_GC_INTERVAL_SECONDS": "3600"}).start()
    LOGS.add("berth notifications node", started.daemon.log_path)
    yield started
    LOGS.remove("berth notifications node")
    started.stop()


@pytest.fixture(scope="module")
def docker(dockerd: Dockerd, node: BerthNode) -> Iterator[Dockerd]:
    host = f"127.0.0.1:{node.port}"
    dockerd.login(host, node.token)
    yield dockerd
    dockerd.logout(host, check=False)


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "secret"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def admin(node) -> Admin:
    return Admin(node)


def _account(admin: Admin) -> str:
    return admin("ListAccounts")["Accounts"][0]["AccountId"]


def _push(docker: Dockerd, node: BerthNode, repository: str, tag: str, tmp_path: Path) -> str:
    ref = f"127.0.0.1:{node.port}/{repository}:{tag}"
    tarball = tmp_path / f"{repository.replace('/', '_')}-{tag}.tar"
    tarball.write_bytes(make_tar({"f.txt": f"{repository}:{tag}\n".encode()}))
    docker.docker("import", str(tarball), ref)
    out = docker.docker("push", ref).stdout
    digest = next(w for w in out.split() if w.startswith("sha256:"))
    docker.docker("rmi", ref)
    return digest


def _details(found) -> list[tuple]:
    return [(e["detail"]["action-type"], e["detail"]["repository-name"],
             e["detail"].get("image-tag")) for _, e, _ in found]


def test_docker_pushes_reach_matching_targets_signed_in_eventbridge_s_envelope(
        node, admin, docker, secret_file, tmp_path):
    receiver, other = Receiver().start(), Receiver().start()
    try:
        account = _account(admin)
        admin_online(node, "events", "targets", "put", "everything", "--url",
                     receiver.url + "/all", "--secret-file", str(secret_file))
        admin.put("pushes-to-web", receiver.url + "/web", {
            "source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
            "detail": {"action-type": ["PUSH"], "repository-name": [{"prefix": "notify/web"}]}})
        admin.put("never", other.url, {"detail": {"repository-name": [{"anything-but": {
            "prefix": "notify/"}}]}})
        digest = _push(docker, node, "notify/web", "v1", tmp_path)
        _push(docker, node, "notify/api", "v1", tmp_path)
        _delete_tag(node, "notify/web", "v1")
        assert wait_until(lambda: len(receiver.events("/all")) == 3
                          and len(receiver.events("/web")) == 1, 20), receiver.received
        assert _details(receiver.events("/all")) == [
            ("PUSH", "notify/web", "v1"), ("PUSH", "notify/api", "v1"),
            ("DELETE", "notify/web", "v1")]
        headers, event, body = receiver.events("/web")[0]
        assert event["version"] == "0" and event["source"] == "aws.ecr"
        assert event["detail-type"] == "ECR Image Action"
        assert event["account"] == account and event["region"] == "us-east-1"
        assert event["resources"] == [] and event["time"].endswith("Z")
        assert event["detail"] == {"result": "SUCCESS", "repository-name": "notify/web",
                                   "image-digest": digest, "action-type": "PUSH",
                                   "image-tag": "v1"}
        assert headers["X-Berth-Event-Id"] == event["id"] and headers["X-Berth-Delivery"]
        assert "X-Berth-Signature-256" not in headers  # this target has no secret
        for headers, _, body in receiver.events("/all"):
            expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Berth-Signature-256"] == f"sha256={expected}"
        assert other.received == []
        assert admin.deliveries("never") == []
        assert [d["State"] for d in admin.deliveries("everything")] == ["delivered"] * 3
        targets = admin_online(node, "events", "targets", "list")["Targets"]
        assert {t["Name"]: t["HasSecret"] for t in targets} == {
            "everything": True, "pushes-to-web": False, "never": False}
        assert SECRET not in json.dumps(targets)
        assert SECRET not in node.log_text()
    finally:
        admin.delete("everything", "pushes-to-web", "never")
        receiver.stop()
        other.stop()


def test_a_receiver_down_for_a_while_gets_every_event_once_after_it_returns(
        node, admin, docker, tmp_path):
    down, live = Receiver(), Receiver().start()  # `down` is not listening yet
    try:
        admin.put("down", down.url)
        admin.put("live", live.url)
        pushed = [("back/a", "1"), ("back/b", "1"), ("back/a", "2")]
        for repository, tag in pushed:
            _push(docker, node, repository, tag, tmp_path)
        expected = [("PUSH", r, t) for r, t in pushed]
        # A dead target holds up neither the pushes nor the other target.
        assert wait_until(lambda: len(live.events()) == 3, 15), live.received
        assert _details(live.events()) == expected
        assert wait_until(lambda: _failed_attempts(node) >= 2, 15)
        down.start()
        assert wait_until(lambda: len(down.events()) >= 3, 20), admin.deliveries("down")
        ids = [h["X-Berth-Delivery"] for h, _, _ in down.events()]
        assert len(ids) == len(set(ids)) == 3, ids
        mine = [(e["detail"]["repository-name"], e["detail"]["image-tag"])
                for _, e, _ in down.events()]
        assert [t for r, t in mine if r == "back/a"] == ["1", "2"]  # in order per repository
        found = admin.deliveries("down")
        assert {d["DeliveryId"] for d in found if d["State"] == "delivered"} == set(ids)
        assert max(d["Attempts"] for d in found) >= 2  # delivered on a retry
    finally:
        admin.delete("down", "live")
        down.stop()
        live.stop()


def test_a_bad_pattern_is_refused_with_a_clear_error(node, admin):
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(node.credentials_dir / "admin-credentials"))
    proc = subprocess.run(
        [sys.executable, "-m", "berth", "admin", "events", "targets", "put", "bad", "--url",
         "http://127.0.0.1:9/", "--pattern", '{"detail": {"image-tag": "latest"}}',
         "--endpoint-url", node.url, "--profile", "berth-admin"],
        env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "ValidationError: Event pattern is not valid" in proc.stderr
    assert "detail.image-tag: match values must be in an array" in proc.stderr
    assert admin("ListEventTargets") == {"Targets": []}


def _delete_tag(node: BerthNode, repository: str, tag: str) -> None:
    import requests

    response = requests.delete(f"{node.url}/v2/{repository}/manifests/{tag}", auth=node.auth,
                               timeout=10)
    assert response.status_code == 202, response.text


def _failed_attempts(node: BerthNode) -> int:
    rows = node.query("SELECT COUNT(*) FROM notification_deliveries WHERE last_error "
                      "IS NOT NULL AND state = 'pending'")
    return rows[0][0]
