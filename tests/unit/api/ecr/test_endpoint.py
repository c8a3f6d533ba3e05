"""The endpoint in process: dispatch order, every error path, and the one 500."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from berth.api.ecr import ApiCall, make_endpoint, model_error
from berth.iam.sigv4 import InvalidSignature, MissingAuthenticationToken

TARGET = "AmazonEC2ContainerRegistry_V20150921."
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


class Fake:
    """Handlers and an authenticate that record what reached them."""

    def __init__(self):
        self.calls: list[ApiCall] = []
        self.authenticated: list[bytes] = []

    async def authenticate(self, request, body):
        token = request.headers.get("authorization")
        if token is None:
            raise MissingAuthenticationToken()
        if token != "good":
            raise InvalidSignature()
        self.authenticated.append(body)
        return {"user": "alice"}

    async def describe_repositories(self, call):
        self.calls.append(call)
        names = call.params.get("repositoryNames", [])
        if "missing" in names:
            raise model_error("RepositoryNotFoundException", "The repository 'missing' does "
                                                             "not exist.")
        if "boom" in names:
            raise RuntimeError("database password is hunter2")
        return {"repositories": [{"repositoryName": n, "createdAt": CREATED, "secret": 1}
                                 for n in names], "internal": "x"}

    async def describe_registry(self, call):
        self.calls.append(call)
        return None


@pytest.fixture
def fake():
    return Fake()


@pytest.fixture
def client(fake):
    route = make_endpoint({"DescribeRepositories": fake.describe_repositories,
                           "DescribeRegistry": fake.describe_registry},
                          fake.authenticate, max_body_bytes=4096)
    with TestClient(Starlette(routes=[route]), raise_server_exceptions=False) as client:
        yield client


def _post(client, operation, body=b"{}", auth="good", **headers):
    if auth is not None:
        headers["Authorization"] = auth
    if operation is not None:
        headers["X-Amz-Target"] = operation if "." in operation else TARGET + operation
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return client.post("/", content=body, headers=headers)


def _error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-errortype"] == code
    assert len(response.headers["x-amzn-requestid"]) == 36
    body = response.json()
    assert body["__type"] == code
    return body["message"]


def test_success_is_shaped_and_the_handler_sees_validated_params(client, fake):
    response = _post(client, "DescribeRepositories",
                     {"repositoryNames": ["team/web"], "maxResults": 5.0, "unknown": 1})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json() == {"repositories": [{"repositoryName": "team/web",
                                                 "createdAt": CREATED.timestamp()}]}
    [call] = fake.calls
    assert call.operation == "DescribeRepositories"
    assert call.params == {"repositoryNames": ["team/web"], "maxResults": 5}
    assert call.caller == {"user": "alice"}
    assert call.request_id == response.headers["x-amzn-requestid"]


def test_a_handler_returning_none_answers_an_empty_object(client):
    response = _post(client, "DescribeRegistry", b"")
    assert (response.status_code, response.json()) == (200, {})


def test_each_response_has_its_own_request_id(client):
    ids = {_post(client, "DescribeRegistry").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3


def test_authentication_errors_are_rendered_with_their_status(client, fake):
    message = _error(_post(client, "DescribeRegistry", auth=None), 400,
                     "MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"
    _error(_post(client, "DescribeRegistry", auth="bad"), 400, "InvalidSignatureException")
    assert not fake.calls


def test_authentication_comes_before_operation_lookup_and_validation(client, fake):
    for operation, body in [("ListImages", b"{}"), ("NoSuchThing", b"{}"),
                            ("DescribeRepositories", b"not json"),
                            ("DescribeRepositories", {"maxResults": 0})]:
        _error(_post(client, operation, body, auth="bad"), 400, "InvalidSignatureException")
    assert not fake.authenticated


def test_the_authenticator_gets_the_raw_body(client, fake):
    _post(client, "DescribeRegistry", b'{ "x" : 1 }')
    assert fake.authenticated == [b'{ "x" : 1 }']


def test_a_modeled_operation_not_served_is_unknown(client):
    message = _error(_post(client, "ListImages", {"repositoryName": "ab"}), 400,
                     "UnknownOperationException")
    assert "ListImages" in message and "not supported" in message


def test_an_operation_outside_the_model_is_unknown(client):
    _error(_post(client, "DeleteEverything"), 400, "UnknownOperationException")
    _error(_post(client, "describeRegistry"), 400, "UnknownOperationException")


@pytest.mark.parametrize("target", [None, "", "DescribeRegistry", "DynamoDB_20120810.GetItem",
                                    TARGET, "AmazonEC2ContainerRegistry_V20150921"])
def test_a_missing_or_foreign_target_is_unknown(client, fake, target):
    response = _post(client, None, **({} if target is None else {"X-Amz-Target": target}))
    _error(response, 400, "UnknownOperationException")
    assert not fake.authenticated


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_404_unknown_operation(client, method):
    response = client.request(method, "/", headers={"X-Amz-Target": TARGET + "DescribeRegistry",
                                                    "Authorization": "good"})
    assert response.status_code == 404
    assert response.headers["x-amzn-errortype"] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"not json", b"{", b'{"a": NaN}', b"\xff\xfe{}", b"[" * 4000,
                                  b"[]", b'"x"'])
def test_bodies_that_are_not_a_json_object_are_serialization_errors(client, body):
    _error(_post(client, "DescribeRepositories", body), 400, "SerializationException")


def test_invalid_parameters(client, fake):
    message = _error(_post(client, "DescribeRepositories", {"repositoryNames": ["Bad"]}), 400,
                     "InvalidParameterException")
    assert message.startswith("Invalid parameter at 'repositoryNames' failed to satisfy")
    assert not fake.calls


def test_bodies_over_the_limit_are_refused(client, fake):
    big = {"repositoryNames": ["a" * 100] * 50}
    _error(_post(client, "DescribeRepositories", big), 413, "RequestEntityTooLargeException")

    def chunks():  # no Content-Length: the limit holds while streaming
        yield b'{"x": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'
    response = client.post("/", content=chunks(), headers={
        "X-Amz-Target": TARGET + "DescribeRegistry", "Authorization": "good"})
    _error(response, 413, "RequestEntityTooLargeException")
    assert not fake.authenticated


def test_handler_errors_are_rendered(client):
    message = _error(_post(client, "DescribeRepositories", {"repositoryNames": ["missing"]}),
                     400, "RepositoryNotFoundException")
    assert message == "The repository 'missing' does not exist."


def test_unexpected_errors_are_a_logged_server_exception(client, caplog):
    body = {"repositoryNames": ["boom"], "registryId": "123456789012"}
    with caplog.at_level(logging.ERROR, logger="berth.api.ecr"):
        response = _post(client, "DescribeRepositories", body, auth="good")
    message = _error(response, 500, "ServerException")
    assert "hunter2" not in message
    [record] = [r for r in caplog.records if r.name == "berth.api.ecr"]
    assert response.headers["x-amzn-requestid"] in record.getMessage()
    assert "DescribeRepositories" in record.getMessage()
    assert "123456789012" not in caplog.text and "good" not in record.getMessage()


def test_an_authenticator_that_crashes_is_a_server_exception(fake):
    async def broken(request, body):
        raise KeyError("oops")
    route = make_endpoint({"DescribeRegistry": fake.describe_registry}, broken)
    with TestClient(Starlette(routes=[route]), raise_server_exceptions=False) as client:
        _error(_post(client, "DescribeRegistry"), 500, "ServerException")


def test_handlers_for_operations_outside_the_model_are_refused(fake):
    with pytest.raises(ValueError, match="DescribeRegistries"):
        make_endpoint({"DescribeRegistries": fake.describe_registry}, fake.authenticate)


def test_importing_the_package_loads_no_model():
    code = ("import berth.api.ecr, berth.api.ecr.endpoint; from berth.api.ecr import model; "
            "print(*(len(s.__dict__) for s in (model.ECR, model.ECR_PUBLIC)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["2", "2"]  # name and api_version: nothing loaded
