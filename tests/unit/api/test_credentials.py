"""No answer and no log line quotes the credentials a request carried, however malformed: a
registry token sent to the ECR or admin API, a signature, a secret in the wrong field. The
OCI routes, the ECR API and the admin API, served whole."""
from __future__ import annotations

import base64
import logging
from typing import Iterator

import pytest
import requests

from tests.unit.api.ecr.support import Server, full_app

TOKEN_SECRET = "v1.c2VjcmV0LXJlZ2lzdHJ5LXRva2Vu.U2lnbmF0dXJlT2ZUaGVUb2tlbg"
SIGNATURE = "f" * 64
KEY = "AKIAEXAMPLESECRET123/20260101/us-east-1/ecr/aws4_request"
BASIC = base64.b64encode(f"AWS:{TOKEN_SECRET}".encode()).decode()
# Authorization values as a confused client or a probe sends them.
HEADERS = [
    f"Basic {BASIC}",
    TOKEN_SECRET,
    f"Bearer {TOKEN_SECRET}",
    f"AWS4-HMAC-SHA256 {TOKEN_SECRET}",
    f"AWS4-HMAC-SHA256 Credential={KEY}, SignedHeaders=host, Signature={SIGNATURE}",
    f"AWS4-HMAC-SHA256 Credential={KEY}, Signature={SIGNATURE}",
    f"AWS4-HMAC-SHA256 Credential={TOKEN_SECRET}, SignedHeaders=host, Signature={SIGNATURE}",
]
SECRETS = [TOKEN_SECRET, BASIC, SIGNATURE, KEY, *TOKEN_SECRET.split(".")[1:]]
# (method, path, extra headers): one route of each front-end.
ROUTES = [
    ("POST", "/", {"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.ListImages"}),
    ("POST", "/admin", {"X-Amz-Target": "BerthAdmin_20261122.ListUsers"}),
    ("GET", "/v2/", {}),
    ("GET", "/v2/team/web/manifests/latest", {}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with full_app(tmp_path_factory.mktemp("credentials")) as running:
        yield running


@pytest.mark.parametrize("header", HEADERS)
@pytest.mark.parametrize("method,path,extra", ROUTES)
def test_no_answer_or_log_quotes_the_credentials(server, caplog, method, path, extra, header):
    caplog.set_level(logging.DEBUG)
    response = requests.request(method, server.url + path, data=b"{}", timeout=30, headers={
        "Authorization": header, "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Date": "20260101T000000Z", **extra})
    assert 400 <= response.status_code < 500, response.text
    answer = response.text + repr(dict(response.headers))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in SECRETS:
        assert secret not in answer, (secret, answer)
        assert secret not in logged, (secret, logged)
    if path.startswith("/admin") or path == "/":
        assert response.json()["message"], "an error still says what is wrong"
