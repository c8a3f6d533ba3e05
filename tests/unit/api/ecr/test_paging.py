"""Paging numbers the ECR API reads: ``maxResults`` of any size or spelling answers 400, never
a 500 (Python's int() refuses more than 4,300 digits; a float literal may overflow)."""
from __future__ import annotations

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("ecr-paging")

TARGET = "AmazonEC2ContainerRegistry_V20150921."


def _post(server, operation: str, body: bytes) -> requests.Response:
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers={
        "X-Amz-Target": TARGET + operation, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(server.admin.id, server.admin.secret), "ecr", REGION).add_auth(request)
    return requests.post(server.url + "/", data=body, headers=dict(request.headers.items()),
                         timeout=30)


@pytest.mark.parametrize("operation,extra", [
    ("DescribeRepositories", b""),
    ("DescribeImages", b', "repositoryName": "paging/app"'),
    ("ListImages", b', "repositoryName": "paging/app"'),
])
@pytest.mark.parametrize("number", [b"9" * 4301, b"1" + b"0" * 5000, b"1e99999", b"-1e400",
                                    b"99999999999999999999", b"1000.5"])
def test_max_results_of_any_size_is_a_client_error(server, operation, extra, number):
    server.repository("paging/app")
    response = _post(server, operation, b'{"maxResults": ' + number + extra + b"}")
    assert response.status_code == 400, response.text[:300]
    assert response.json()["__type"] in ("SerializationException", "InvalidParameterException",
                                          "ValidationException")
