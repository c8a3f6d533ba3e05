"""A rate holds for the deployment, not per node: an account's root key calling
GetAuthorizationToken as fast as boto3 goes, alternately through two `berth serve` nodes on
one PostgreSQL database, is admitted the account's rate between them (plus each node's first
burst and a second of lag at most), not twice it; the rest is ThrottlingException. The nodes
share what they admitted through the database's rate_takes rows."""
from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.credentials import AccessKey
from tests.support.gc import admin_online

pytestmark = pytest.mark.e2e

RATE = 5
SECONDS = 12.0


def _client(url: str, key: AccessKey):
    return boto3.session.Session().client(
        "ecr", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key.id,
        aws_secret_access_key=key.secret, config=Config(retries={"total_max_attempts": 1}))


def test_two_nodes_admit_one_rate_between_them(two_nodes):
    a, b = two_nodes
    account = admin_online(a, "accounts", "create", "rated")["Account"]["AccountId"]
    made = admin_online(a, "access-keys", "create", "--account", account)["AccessKey"]
    key = AccessKey(made["AccessKeyId"], made["SecretAccessKey"])
    admin_online(a, "quotas", "put", "--account", account, "Rate:GetAuthorizationToken",
                 str(RATE))
    clients = [_client(node.url, key) for node in (a, b)]
    admitted, throttled = [0, 0], [0, 0]
    deadline = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < deadline:
        side = n % 2
        n += 1
        try:
            clients[side].get_authorization_token()
            admitted[side] += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException", exc.response
            throttled[side] += 1
    # Each node alone would admit RATE * SECONDS + its burst of RATE: 2 * 65 = 130 together.
    assert sum(admitted) <= RATE * SECONDS + 2 * RATE + 2 * RATE + RATE, (admitted, throttled)
    assert sum(admitted) >= RATE * SECONDS * 0.75, (admitted, throttled)
    assert all(admitted) and all(throttled), (admitted, throttled)
    assert a.query("SELECT count(DISTINCT node) FROM rate_takes") == [(2,)]
