"""Per-principal rates (berth/quotas/rates.py): a bucket per principal and action holding a
second's worth, refilled at the rate; an override counts once the cached rates are reloaded;
through the full app a principal past its rate is answered 429 TOOMANYREQUESTS with
Retry-After on the registry API and ThrottlingException on the ECR API, another principal is
not, and the administrator's account never is."""
from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from berth.quotas import rates as rates_module
from berth.quotas.rates import Limiter, Throttled
from berth.quotas.services import DEPLOYMENT, QuotaService
from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("rates")
PULL = "ecr:BatchGetImage"


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_a_seconds_worth_and_refills_at_the_rate(server):
    db = server.state.registry.db
    account = server.state.iam.identities.create_account("bucket-test").id
    QuotaService(db).put(account, "Rate:PutImage", 4)
    clock = _Clock()
    limiter = Limiter(db, clock)
    for _ in range(4):
        limiter.take("arn:alice", account, "ecr:PutImage")
    with pytest.raises(Throttled) as throttled:
        limiter.take("arn:alice", account, "ecr:PutImage")
    assert 0 < throttled.value.retry_after <= 0.25 and throttled.value.retry_after_header == "1"
    limiter.take("arn:bob", account, "ecr:PutImage")  # another principal's bucket
    limiter.take("arn:alice", account, "ecr:CreateRepository")  # an action without a rate
    clock.now += 0.5  # two requests' worth
    limiter.take("arn:alice", account, "ecr:PutImage")
    limiter.take("arn:alice", account, "ecr:PutImage")
    with pytest.raises(Throttled):
        limiter.take("arn:alice", account, "ecr:PutImage")


def test_an_override_counts_once_the_rates_are_reloaded(server):
    db = server.state.registry.db
    account = server.state.iam.identities.create_account("reload-test").id
    clock = _Clock()
    limiter = Limiter(db, clock)
    limiter.take("arn:carol", account, "ecr:PutImage")  # ECR's 10 per second
    QuotaService(db).put(account, "Rate:PutImage", 1)
    clock.now += rates_module.RELOAD_SECONDS + 1
    limiter.take("arn:carol", account, "ecr:PutImage")
    with pytest.raises(Throttled):
        limiter.take("arn:carol", account, "ecr:PutImage")


@pytest.fixture
def tenant(server, request):
    suffix = hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    account, key = server.account_with_user(f"rated-{suffix}")
    QuotaService(server.state.registry.db).put(account, "Rate:BatchGetImage", 1)
    return account, key


def _basic(server, key) -> tuple[str, str]:
    token = server.client(key).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    return user, password


def test_a_principal_past_its_rate_is_told_to_wait_on_both_apis(server, tenant):
    account, key = tenant
    ecr = server.client(key)
    ecr.create_repository(repositoryName="rated")
    auth = _basic(server, key)
    url = f"{server.url}/v2/rated/manifests/v1"
    answers = [requests.get(url, auth=auth, timeout=30) for _ in range(6)]
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled, [a.status_code for a in answers]
    assert throttled[0].json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert throttled[0].headers["Retry-After"] == "1"
    plain = boto3.session.Session().client(  # retrying nothing, not even throttling
        "ecr", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key.id,
        aws_secret_access_key=key.secret, config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        for _ in range(4):
            plain.batch_get_image(repositoryName="rated", imageIds=[{"imageTag": "v1"}])
    assert refused.value.response["Error"]["Code"] == "ThrottlingException"
    ecr.batch_get_image(repositoryName="rated", imageIds=[{"imageTag": "v1"}])  # retried


def test_the_administrators_account_is_never_limited(server):
    db = server.state.registry.db
    QuotaService(db).put(DEPLOYMENT, "Rate:BatchGetImage", 1)
    try:
        server.client().create_repository(repositoryName="admin-rated")
        for _ in range(5):
            server.client().batch_get_image(repositoryName="admin-rated",
                                            imageIds=[{"imageTag": "v1"}])
    finally:
        QuotaService(db).delete(DEPLOYMENT, "Rate:BatchGetImage")
