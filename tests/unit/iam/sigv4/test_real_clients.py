"""Requests real clients put on the wire -- boto3, the aws CLI, botocore's own HTTP session --
captured by a local HTTP server and verified as received, against the real clock."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

from berth.iam.sigv4 import SigV4Error, verify_request

from .signing import AKID, IDENTITY, SECRET, Received, lookup

AWS_CLI = Path(sys.executable).with_name("aws")


class _Capture(BaseHTTPRequestHandler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path, _, query = self.path.partition("?")
        self.server.captured.append(Received(
            method=self.command, path=path.encode("latin-1"), query=query.encode("latin-1"),
            headers=tuple(self.headers.items()), body=body))
        reply = json.dumps(self.server.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    httpd.captured, httpd.reply = [], {}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _verify(request: Received, **options):
    return verify_request(request.method, request.path, request.query, request.headers,
                          body=request.body, lookup_secret=lookup, **options)


def _ecr_client(url, region="us-east-1", **credentials):
    credentials = {"aws_access_key_id": AKID, "aws_secret_access_key": SECRET, **credentials}
    return boto3.session.Session(region_name=region, **credentials).client(
        "ecr", endpoint_url=url, config=Config(retries={"max_attempts": 1}))


def test_boto3_ecr_calls_over_http(server):
    client = _ecr_client(server.url, region="ap-southeast-2")
    server.reply = {"repositories": []}
    client.describe_repositories(repositoryNames=["team-a/web", "\u00e9\u20ac"])
    server.reply = {"images": [], "failures": []}
    client.batch_get_image(repositoryName="team-a/web", imageIds=[{"imageTag": "latest"}])
    server.reply = {"authorizationData": []}
    client.get_authorization_token()
    assert len(server.captured) == 3
    for request in server.captured:
        verified = _verify(request)
        assert (verified.access_key_id, verified.identity, verified.region, verified.service) == (
            AKID, IDENTITY, "ap-southeast-2", "ecr")
        assert "x-amz-target" in verified.signed_headers
    assert server.captured[1].header("X-Amz-Target").endswith(".BatchGetImage")


def test_boto3_with_a_session_token(server):
    server.reply = {"repositories": []}
    _ecr_client(server.url, aws_session_token="FwoGZXIvYXdzEXAMPLE//token+=").describe_repositories()
    assert _verify(server.captured[0]).security_token == "FwoGZXIvYXdzEXAMPLE//token+="


def test_boto3_signed_with_another_secret_is_refused(server):
    server.reply = {"repositories": []}
    _ecr_client(server.url, aws_secret_access_key="not-" + SECRET).describe_repositories()
    with pytest.raises(SigV4Error) as caught:
        _verify(server.captured[0])
    assert caught.value.code == "InvalidSignatureException"


def test_a_request_captured_before_boto3_sends_it():
    captured = []

    def before_send(request, **kwargs):
        captured.append(request)
        raise _Stop()

    client = _ecr_client("https://api.ecr.us-west-2.amazonaws.com", region="us-west-2")
    client.meta.events.register("before-send.ecr.ListImages", before_send)
    with pytest.raises(_Stop):
        client.list_images(repositoryName="web", maxResults=10)
    prepared = captured[0]
    headers = list(prepared.headers.items()) + [("Host", "api.ecr.us-west-2.amazonaws.com")]
    verified = verify_request(prepared.method, "/", "", headers, body=prepared.body,
                              lookup_secret=lookup)
    assert verified.region == "us-west-2"
    assert json.loads(prepared.body) == {"repositoryName": "web", "maxResults": 10}


class _Stop(Exception):
    pass


def _aws(*args, env=None):
    environment = {"PATH": os.environ.get("PATH", ""), "AWS_CONFIG_FILE": os.devnull,
                   "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                   "AWS_MAX_ATTEMPTS": "1", **(env or {})}
    return subprocess.run([str(AWS_CLI), *args], env=environment, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the aws CLI is not installed in this venv")
def test_the_aws_cli(server):
    server.reply = {"repositories": []}
    done = _aws("ecr", "describe-repositories", "--repository-names", "team-a/web",
                "--endpoint-url", server.url, "--region", "eu-west-1")
    assert done.returncode == 0, done.stderr
    verified = _verify(server.captured[0], allowed_regions={"eu-west-1"})
    assert (verified.region, verified.identity) == ("eu-west-1", IDENTITY)
    assert json.loads(server.captured[0].body) == {"repositoryNames": ["team-a/web"]}


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the aws CLI is not installed in this venv")
def test_the_aws_cli_with_temporary_credentials_and_a_wrong_region(server):
    server.reply = {"authorizationData": []}
    done = _aws("ecr", "get-authorization-token", "--endpoint-url", server.url,
                "--region", "us-east-2", env={"AWS_SESSION_TOKEN": "SESSION"})
    assert done.returncode == 0, done.stderr
    assert _verify(server.captured[0]).security_token == "SESSION"
    with pytest.raises(SigV4Error) as caught:
        _verify(server.captured[0], allowed_regions={"us-east-1"})
    assert caught.value.message == "Credential should be scoped to a valid region, not 'us-east-2'. "


@pytest.mark.parametrize("path", [
    "/", "/a%20b/c%2Fd", "/%E2%82%AC/%7Euser", "//double//slashes//", "/a/./b/../c",
    "/sub-delims/!$&'()*+,=:@", "/%25already%2520encoded",
])
@pytest.mark.parametrize("query", [
    "", "a=2&a=1&a=3", "key=with%20space&key=with+plus%2B&empty=", "x=%E2%82%AC&y=%2F%3F%23",
])
def test_botocore_http_session_on_the_wire(server, path, query):
    url = server.url + path + (f"?{query}" if query else "")
    request = AWSRequest("PUT", url, data=b"payload",
                         headers={"X-Amz-Target": "Svc.Op", "X-Spaced": "  a   b  "})
    SigV4Auth(Credentials(AKID, SECRET), "ecr", "us-east-1").add_auth(request)
    URLLib3Session().send(request.prepare())
    received = server.captured[0]
    assert received.body == b"payload"
    _verify(received)
