"""GET /metrics on the API port: the administrator account's callers allowed berth:GetMetrics,
with a registry token as HTTP Basic or Bearer; and the separate port, anonymous or not."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from berth.api.metrics import start_server
from berth.app import create_app
from berth.config import Settings
from tests.support.credentials import admin_key, basic
from tests.support.metadata_templates import migrated_sqlite
from tests.support.ports import free_port

ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "berth:GetMetrics", "Resource": "*"}]})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("metrics")
    migrated_sqlite(data_dir)
    settings = Settings(data_dir=data_dir)
    app = create_app(settings, run_jobs=False)
    iam = app.app.state.iam
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, iam, settings, iam.tokens.mint(admin_key(data_dir).id)[0]


def _token(iam, account: str, user: str | None = None, policy: str | None = None) -> str:
    if user:
        iam.identities.create_user(account, user)
        if policy:
            iam.identities.put_user_policy(account, user, "m", policy)
    return iam.tokens.mint(iam.identities.create_access_key(account, user).id)[0]


def _refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("berth_authorization_refusals_total",
                                     {"protocol": "metrics", "reason": reason}) or 0.0


def test_the_administrator_scrapes_with_basic_or_bearer(served):
    client, _, _, token = served
    client.get("/v2/", headers={"Authorization": basic(token)})
    for header in (basic(token), f"Bearer {token}"):
        answer = client.get("/metrics", headers={"Authorization": header})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert 'berth_http_requests_total{method="GET",protocol="oci",route="/v2/"' \
            in answer.text


def test_no_credentials_is_401_and_counted(served):
    client = served[0]
    before = _refusals("unauthenticated")
    answer = client.get("/metrics")
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    assert client.get("/metrics", headers={"Authorization": "Bearer nonsense"}).status_code \
        == 401
    assert _refusals("unauthenticated") == before + 2


def test_another_account_is_refused_even_as_its_root(served):
    client, iam = served[:2]
    token = _token(iam, iam.identities.create_account("tenant").id)
    before = _refusals("not_admin")
    answer = client.get("/metrics", headers={"Authorization": basic(token)})
    assert answer.status_code == 403 and "berth:GetMetrics" in answer.text
    assert _refusals("not_admin") == before + 1


def test_an_administrator_user_needs_the_action(served):
    client, iam = served[:2]
    admin = iam.identities.admin_account().id
    refused = _token(iam, admin, "dashboards")
    allowed = _token(iam, admin, "prometheus", ALLOW)
    assert client.get("/metrics", headers={"Authorization": basic(refused)}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": basic(allowed)}).status_code == 200


def test_metrics_off_serve_no_route(tmp_path):
    migrated_sqlite(tmp_path)
    app = create_app(Settings(data_dir=tmp_path, metrics=False), run_jobs=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("anonymous", [True, False])
def test_the_separate_port(served, anonymous):
    _, iam, settings, token = served
    port = free_port()
    server = start_server(replace(settings, metrics_port=port, metrics_anonymous=anonymous),
                          lambda: iam)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        plain = requests.get(url, timeout=10)
        assert plain.status_code == (200 if anonymous else 401)
        signed = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert signed.status_code == 200 and "berth_http_requests_total" in signed.text
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_bad_signature_is_counted_as_unauthenticated(served):
    client = served[0]
    before = REGISTRY.get_sample_value("berth_authorization_refusals_total",
                                       {"protocol": "ecr", "reason": "unauthenticated"}) or 0.0
    answer = client.post("/", content=b"{}", headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIANOTAKEY0000000000/20261205/us-east-1/"
                         "ecr/aws4_request, SignedHeaders=host, Signature=00"})
    assert answer.status_code in (400, 403), answer.text
    after = REGISTRY.get_sample_value("berth_authorization_refusals_total",
                                      {"protocol": "ecr", "reason": "unauthenticated"})
    assert after == before + 1
