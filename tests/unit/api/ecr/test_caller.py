"""Who calls the ECR API, as the full app decides it: the body must be signed (no
UNSIGNED-PAYLOAD), a signed call that changes state is accepted once, and boto3 is not
bothered by either: a retry or a repeated call that botocore signs identically (same second)
is answered ThrottlingException, which botocore retries, signed at a later second."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from unittest import mock

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError

from berth.iam.replay import SignatureLedger
from tests.unit.api.ecr.support import REGION, error_of, server_fixture

server = server_fixture("ecr-caller")

TARGET = "AmazonEC2ContainerRegistry_V20150921."
MISMATCH = "The request signature we calculated does not match the signature you provided."
REPLAYED = "Rate exceeded: this signed request was received before."


def _captured(server, operation: str, params: dict, unsigned: bool = False) -> dict[str, str]:
    """The headers of a call signed as botocore signs it (a proxy's capture, to send again)."""
    request = AWSRequest(method="POST", url=server.url + "/", data=json.dumps(params).encode(),
                         headers={"X-Amz-Target": TARGET + operation,
                                  "Content-Type": "application/x-amz-json-1.1"})
    if unsigned:
        request.context["payload_signing_enabled"] = False
    key = server.admin
    SigV4Auth(Credentials(key.id, key.secret), "ecr", REGION).add_auth(request)
    return dict(request.headers.items())


def _send(server, headers: dict[str, str], params: dict) -> requests.Response:
    return requests.post(server.url + "/", data=json.dumps(params).encode(), headers=headers,
                         timeout=30)


def _refusal(response: requests.Response, code: str = "InvalidSignatureException") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == code
    return response.json()["message"]


def _tags(server, name: str) -> list[str]:
    images = server.client().list_images(repositoryName=name)["imageIds"]
    return sorted(i["imageTag"] for i in images if "imageTag" in i)


def _retrying_client(server):
    key = server.admin
    return boto3.session.Session().client(
        "ecr", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key.id,
        aws_secret_access_key=key.secret,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}))


class SigningClock:
    """botocore's clock: the same second for the first ``same`` signatures, then later ones."""

    def __init__(self, same: int):
        self.start = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        self.same = same
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.start + timedelta(seconds=max(0, self.calls - self.same))


@pytest.fixture
def signing_clock():
    def freeze(same: int) -> SigningClock:
        clock = SigningClock(same)
        patcher = mock.patch("botocore.auth.get_current_datetime", side_effect=clock)
        patcher.start()
        patches.append(patcher)
        return clock

    patches = []
    yield freeze
    for patcher in patches:
        patcher.stop()


def test_an_unsigned_payload_and_its_replay_with_another_body_are_refused(server):
    server.repository("caller/unsigned")
    server.push("caller/unsigned", "v2")
    harmless = {"repositoryName": "caller/unsigned", "imageIds": [{"imageTag": "nope"}]}
    headers = _captured(server, "BatchDeleteImage", harmless, unsigned=True)
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert _refusal(_send(server, headers, harmless)).startswith(MISMATCH)
    harmful = {"repositoryName": "caller/unsigned", "imageIds": [{"imageTag": "v2"}]}
    assert _refusal(_send(server, headers, harmful)).startswith(MISMATCH)
    assert _tags(server, "caller/unsigned") == ["v2"]


def test_a_read_may_be_sent_again(server):
    params = {"maxResults": 5}
    headers = _captured(server, "DescribeRepositories", params)
    for _ in range(3):
        assert _send(server, headers, params).status_code == 200


def test_a_signed_change_is_accepted_once(server):
    server.repository("caller/once")
    server.push("caller/once", "v1")
    server.push("caller/once", "v2", layer=b"other")
    params = {"repositoryName": "caller/once", "imageIds": [{"imageTag": "v1"}]}
    headers = _captured(server, "BatchDeleteImage", params)
    assert _send(server, headers, params).status_code == 200
    assert _refusal(_send(server, headers, params), "ThrottlingException").startswith(REPLAYED)
    assert _tags(server, "caller/once") == ["v2"]


def test_boto3_repeats_a_call_within_one_second(server, signing_clock):
    clock = signing_clock(same=2)
    client = _retrying_client(server)
    client.create_repository(repositoryName="caller/twice")
    with pytest.raises(ClientError) as caught:
        client.create_repository(repositoryName="caller/twice")
    # The second call's first attempt was the first call byte for byte; its retry was not.
    assert error_of(caught)[0] == "RepositoryAlreadyExistsException"
    assert clock.calls == 3


def test_a_boto3_retry_signed_alike_is_retried_again_and_accepted(server, signing_clock):
    # The first attempt reaches the server and its answer is lost; botocore retries within
    # the same second (an identical request: refused), then a second later (accepted).
    clock = signing_clock(same=2)
    server.repository("caller/retried")
    client = _retrying_client(server)
    attempts = []

    def lose_first_answer(request, **_):
        attempts.append(request.headers["Authorization"])
        if len(attempts) == 1:
            response = requests.post(request.url, data=request.body,
                                     headers=dict(request.headers.items()), timeout=30)
            assert response.status_code == 200, response.text
            raise ConnectionClosedError(endpoint_url=request.url)
        return None

    client.meta.events.register("before-send.ecr.PutImageTagMutability", lose_first_answer)
    answer = client.put_image_tag_mutability(repositoryName="caller/retried",
                                             imageTagMutability="IMMUTABLE")
    assert answer["imageTagMutability"] == "IMMUTABLE"
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(attempts) == 3 and attempts[0] == attempts[1] != attempts[2]
    assert clock.calls == 3


def test_a_change_is_verified_off_the_event_loop(server, monkeypatch):
    on_loop = []
    claim = SignatureLedger.claim

    def recording(self, verified):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return claim(self, verified)

    monkeypatch.setattr(SignatureLedger, "claim", recording)
    server.client().create_repository(repositoryName="caller/threaded")
    server.client().describe_repositories(repositoryNames=["caller/threaded"])
    assert on_loop == [False]  # the read claims nothing
