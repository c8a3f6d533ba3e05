"""Captured signed requests against ``berth serve``: the ECR and admin APIs authenticate the
body (UNSIGNED-PAYLOAD is refused, so a capture cannot carry another body), a signed request
that changes state is accepted once on any worker process or node, and boto3, the aws CLI
and ``berth admin`` go on working: what they sign alike within one second (a retry whose
answer was lost, a repeated call) is answered ThrottlingException, which they retry, signed
at a later second."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit
from unittest import mock

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ConnectionClosedError

from berth.api.admin import TARGET_PREFIX as ADMIN_PREFIX
from tests.support.credentials import AccessKey, admin_key
from tests.support.ecr_login import aws_cli
from tests.support.oci_push import OCI_MANIFEST, push_image
from tests.support.registry_server import RegistryServer, start_registry

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ECR_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
MISMATCH = "The request signature we calculated does not match the signature you provided."
REPLAYED = "Rate exceeded: this signed request was received before."
BERTH = Path(sys.executable).parent / "berth"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RegistryServer]:
    found = start_registry(tmp_path_factory.mktemp("signed-requests"), "berth")
    yield found
    found.stop()


def capture(url: str, key: AccessKey, target: str, params: dict, service: str = "ecr",
            unsigned: bool = False) -> dict[str, str]:
    """The headers of a call signed as botocore signs it: what a proxy log would hold."""
    request = AWSRequest(method="POST", url=url, data=json.dumps(params).encode(), headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    if unsigned:
        request.context["payload_signing_enabled"] = False
    SigV4Auth(Credentials(key.id, key.secret), service, REGION).add_auth(request)
    # The host signed, sent along: behind one name (a load balancer) any node may receive it.
    return {**dict(request.headers.items()), "Host": urlsplit(url).netloc}


def send(url: str, headers: dict[str, str], params: dict) -> requests.Response:
    # A fresh connection each time: another of the server's worker processes may answer.
    with requests.Session() as session:
        return session.post(url, data=json.dumps(params).encode(), headers=headers, timeout=30)


def refusal(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 400, response.text
    body = response.json()
    return body["__type"], body["message"]


def ecr(operation: str) -> str:
    return f"{ECR_PREFIX}.{operation}"


def boto3_ecr(url: str, key: AccessKey):
    """boto3 as users have it: its default (legacy) retries."""
    return boto3.session.Session().client(
        "ecr", endpoint_url=url, region_name=REGION, aws_access_key_id=key.id,
        aws_secret_access_key=key.secret)


def _authed(server) -> requests.Session:
    session = requests.Session()
    session.auth = server.auth
    return session


def manifest_status(server, repo: str, tag: str) -> int:
    return requests.get(f"{server.url}/v2/{repo}/manifests/{tag}", auth=server.auth,
                        headers={"Accept": OCI_MANIFEST}, timeout=30).status_code


class SigningClock:
    """botocore's clock: one second for the first ``same`` signatures, later ones after."""

    def __init__(self, same: int):
        self.start = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        self.same, self.calls = same, 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.start + timedelta(seconds=max(0, self.calls - self.same))


def test_an_unsigned_payload_and_its_replay_with_another_body_are_refused(server):
    key = admin_key(server.data_dir)
    push_image(_authed(server), server.url, "signed/unsigned", "v2", b"{}", [b"layer"])
    harmless = {"repositoryName": "signed/unsigned", "imageIds": [{"imageTag": "nope"}]}
    headers = capture(server.url + "/", key, ecr("BatchDeleteImage"), harmless,
                      unsigned=True)
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    harmful = {"repositoryName": "signed/unsigned", "imageIds": [{"imageTag": "v2"}]}
    for params in (harmless, harmful):
        code, message = refusal(send(server.url + "/", headers, params))
        assert code == "InvalidSignatureException" and message.startswith(MISMATCH)
    assert manifest_status(server, "signed/unsigned", "v2") == 200
    # The admin API likewise.
    user = {"UserName": "intruder"}
    headers = capture(server.url + "/admin", key, f"{ADMIN_PREFIX}.CreateUser", user,
                      service="berth", unsigned=True)
    code, message = refusal(send(server.url + "/admin", headers, user))
    assert code == "InvalidSignatureException" and message.startswith(MISMATCH)


def test_a_signed_change_is_accepted_once(server):
    key = admin_key(server.data_dir)
    made = {"repositoryName": "signed/once"}
    headers = capture(server.url + "/", key, ecr("CreateRepository"), made)
    assert send(server.url + "/", headers, made).status_code == 200
    boto3_ecr(server.url, key).delete_repository(repositoryName="signed/once")
    for _ in range(4):  # whichever worker process answers
        code, message = refusal(send(server.url + "/", headers, made))
        assert code == "ThrottlingException" and message.startswith(REPLAYED)
    names = [r["repositoryName"]
             for r in boto3_ecr(server.url, key).describe_repositories()["repositories"]]
    assert "signed/once" not in names
    user = {"UserName": "once"}
    headers = capture(server.url + "/admin", key, f"{ADMIN_PREFIX}.CreateUser", user,
                      service="berth")
    assert send(server.url + "/admin", headers, user).status_code == 200
    assert refusal(send(server.url + "/admin", headers, user))[0] == "ThrottlingException"
    # Reads are not recorded: the same signed read answers again.
    listed = {}
    headers = capture(server.url + "/", key, ecr("DescribeRepositories"), listed)
    for _ in range(3):
        assert send(server.url + "/", headers, listed).status_code == 200


def test_boto3_retries_a_request_whose_answer_was_lost(server):
    # The first attempt takes effect and its answer is lost; botocore retries within the same
    # second (the same signature: refused), then a second later (a new one: accepted).
    key = admin_key(server.data_dir)
    client = boto3_ecr(server.url, key)
    client.create_repository(repositoryName="signed/retried")
    attempts = []

    def lose_first_answer(request, **_):
        attempts.append(request.headers["Authorization"])
        if len(attempts) == 1:
            answer = requests.post(request.url, data=request.body,
                                   headers=dict(request.headers.items()), timeout=30)
            assert answer.status_code == 200, answer.text
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register("before-send.ecr.PutImageTagMutability", lose_first_answer)
    with mock.patch("botocore.auth.get_current_datetime", side_effect=SigningClock(same=2)):
        answer = client.put_image_tag_mutability(repositoryName="signed/retried",
                                                 imageTagMutability="IMMUTABLE")
    assert answer["imageTagMutability"] == "IMMUTABLE"
    assert len(attempts) == 3 and attempts[0] == attempts[1] != attempts[2]


def test_boto3_repeats_a_call_within_one_second(server):
    client = boto3_ecr(server.url, admin_key(server.data_dir))
    client.create_repository(repositoryName="signed/twice")
    arn = client.describe_repositories(repositoryNames=["signed/twice"])[
        "repositories"][0]["repositoryArn"]
    clock = SigningClock(same=2)
    with mock.patch("botocore.auth.get_current_datetime", side_effect=clock):
        for _ in range(2):  # identical, signed alike
            client.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "blue"}])
    assert clock.calls == 3  # the second call went through on its retry
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "team", "Value": "blue"}]


def aws(server, *args: str) -> dict:
    env = {**admin_key(server.data_dir).env(REGION), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", server.url,
                           "--output", "json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"aws ecr {' '.join(args)}:\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_the_aws_cli_and_berth_admin_work_as_before(server):
    aws(server, "create-repository", "--repository-name", "signed/cli")
    for _ in range(2):
        made = aws(server, "put-image-tag-mutability", "--repository-name", "signed/cli",
                   "--image-tag-mutability", "IMMUTABLE")
        assert made["imageTagMutability"] == "IMMUTABLE"
    aws(server, "delete-repository", "--repository-name", "signed/cli")
    env = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "admin-credentials")}
    online = ("--endpoint-url", server.url, "--profile", "berth-admin")

    def admin(*args: str) -> dict:
        proc = subprocess.run([str(BERTH), "admin", *args, *online], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    account = admin("accounts", "create", "signed-team")["Account"]["AccountId"]
    admin("users", "create", "--account", account, "ci")
    keys = {admin("access-keys", "create", "--account", account, "--user", "ci")[
        "AccessKey"]["AccessKeyId"] for _ in range(2)}
    assert len(keys) == 2


def test_a_change_accepted_by_one_node_is_refused_by_the_other(two_nodes):
    a, b = two_nodes
    key = admin_key(a.data_dir)
    made = {"repositoryName": "signed/nodes"}
    headers = capture(a.url + "/", key, ecr("CreateRepository"), made)
    assert send(a.url + "/", headers, made).status_code == 200
    boto3_ecr(b.url, key).delete_repository(repositoryName="signed/nodes")
    code, message = refusal(send(b.url + "/", headers, made))
    assert code == "ThrottlingException" and message.startswith(REPLAYED)
    assert refusal(send(a.url + "/", headers, made))[0] == "ThrottlingException"
    assert [r["repositoryName"] for r in boto3_ecr(a.url, key).describe_repositories()[
        "repositories"]] == []
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    [(expires_at,)] = a.query("SELECT expires_at FROM used_signatures WHERE signature = ?",
                              signature)
    assert datetime.now(timezone.utc).timestamp() + 300 < expires_at < \
        datetime.now(timezone.utc).timestamp() + 660
