"""The endpoint served by uvicorn on loopback and called by real boto3 and the aws CLI, signed
with SigV4 and verified by berth.iam.sigv4."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.applications import Starlette

from berth.api.ecr import make_endpoint, model_error
from berth.iam.sigv4 import verify_request

AKID = "AKIDBERTHTEST"
SECRET = "berth/secret+key/for/tests/only/000000000"
IDENTITY = {"account": "123456789012", "user": "alice"}
EXPIRES = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
AWS_CLI = Path(sys.executable).with_name("aws")


async def authenticate(request, body):
    verified = verify_request(
        request.method, request.scope["raw_path"], request.scope["query_string"],
        request.headers.raw, body=body,
        lookup_secret=lambda key: (SECRET, IDENTITY) if key == AKID else None)
    return verified.identity


async def describe_registry(call):
    return {"registryId": call.caller["account"], "replicationConfiguration": {"rules": []},
            "internalNote": "never sent"}


async def get_authorization_token(call):
    return {"authorizationData": [{"authorizationToken": "QVdTOnRva2Vu", "expiresAt": EXPIRES,
                                   "proxyEndpoint": "https://registry.example"}]}


async def describe_repositories(call):
    raise model_error("RepositoryNotFoundException",
                      f"The repository with name '{call.params['repositoryNames'][0]}' does "
                      "not exist in the registry with id '123456789012'")


@contextlib.contextmanager
def serving(app):
    """Runs app on a free loopback port in a thread until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's handlers would keep the stream pytest captured when the
    # server started, and write to it after pytest closed it (module-scoped servers).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until_accepting(port, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_until_accepting(port: int, thread: threading.Thread, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start") from None
            time.sleep(0.01)  # poll interval, not synchronisation


@pytest.fixture(scope="module")
def url():
    route = make_endpoint({"DescribeRegistry": describe_registry,
                           "GetAuthorizationToken": get_authorization_token,
                           "DescribeRepositories": describe_repositories}, authenticate)
    with serving(Starlette(routes=[route])) as url:
        yield url


def _client(url, secret=SECRET, **config):
    return boto3.session.Session().client(
        "ecr", endpoint_url=url, region_name="us-east-1", aws_access_key_id=AKID,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, **config))


def _code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def test_boto3_calls_succeed_and_parse(url):
    client = _client(url)
    registry = client.describe_registry()
    assert registry["registryId"] == "123456789012"
    assert registry["replicationConfiguration"] == {"rules": []}
    assert "internalNote" not in registry
    assert len(registry["ResponseMetadata"]["RequestId"]) == 36
    [data] = client.get_authorization_token(registryIds=["123456789012"])["authorizationData"]
    assert data["expiresAt"] == EXPIRES
    assert data["authorizationToken"] == "QVdTOnRva2Vu"


def test_a_wrong_secret_is_an_invalid_signature(url):
    with pytest.raises(ClientError) as caught:
        _client(url, secret="not-the-secret").describe_registry()
    assert _code(caught) == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_unserved_operation_is_unknown(url):
    with pytest.raises(ClientError) as caught:
        _client(url).list_images(repositoryName="team/web")
    assert _code(caught) == "UnknownOperationException"


def test_invalid_parameters_past_client_validation(url):
    client = _client(url, parameter_validation=False)
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.get_authorization_token(registryIds=["not-an-account"])
    assert caught.value.response["Error"]["Message"] == (
        "Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must "
        "satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]'")
    with pytest.raises(ClientError) as caught:
        client.describe_repositories(maxResults=0)
    assert _code(caught) == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        client.describe_repositories(maxResults="ten")
    assert _code(caught) == "SerializationException"


def test_a_handler_error_reaches_boto3_as_its_modeled_exception(url):
    client = _client(url)
    with pytest.raises(client.exceptions.RepositoryNotFoundException) as caught:
        client.describe_repositories(repositoryNames=["team/gone"])
    assert "'team/gone' does not exist" in caught.value.response["Error"]["Message"]


def test_plain_http_get_is_a_json_404(url):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url + "/", timeout=10)
    assert caught.value.code == 404
    assert caught.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert json.loads(caught.value.read())["__type"] == "UnknownOperationException"


def _aws(url, *args, secret=SECRET):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=secret, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run([str(AWS_CLI), *args, "--endpoint-url", url, "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_aws_cli_describe_registry(url):
    done = _aws(url, "ecr", "describe-registry")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"registryId": "123456789012",
                                       "replicationConfiguration": {"rules": []}}


def test_aws_cli_reports_a_wrong_secret(url):
    done = _aws(url, "ecr", "describe-registry", secret="wrong")
    assert done.returncode != 0
    assert "InvalidSignatureException" in done.stderr
