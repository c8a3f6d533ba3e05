"""The whole app: every response carries its request id (the ECR and admin APIs' own
x-amzn-RequestId is the same id), and the access log names the caller each API found."""
from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.testclient import TestClient

from berth.app import create_app
from berth.config import Settings
from berth.observability.logs import ACCESS
from tests.support.credentials import admin_key, basic
from tests.unit.api.oci.support import migrated_sqlite

ECR = "AmazonEC2ContainerRegistry_V20150921."
ADMIN = "BerthAdmin_20261122."


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("observed")
    migrated_sqlite(data_dir)
    app = create_app(Settings(data_dir=data_dir), run_jobs=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.app.state, admin_key(data_dir)


def _signed(client, key, path: str, target: str, service: str, body: dict, **headers):
    data = json.dumps(body).encode()
    request = AWSRequest("POST", "http://testserver" + path, data=data, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **headers})
    SigV4Auth(Credentials(key.id, key.secret), service, "us-east-1").add_auth(request)
    return client.post(path, content=data, headers=dict(request.headers))


def _access(caplog) -> list[dict]:
    return [getattr(r, ACCESS) for r in caplog.records if r.name == "berth.access"]


@pytest.mark.parametrize("path,target", [("/", ECR + "DescribeRepositories"),
                                         ("/admin", ADMIN + "ListAccounts")])
def test_aws_json_request_ids_are_the_x_request_id(served, path, target):
    client = served[0]
    answer = client.post(path, headers={"X-Amz-Target": target}, content=b"{}")
    assert answer.headers["x-amzn-requestid"] == answer.headers["x-request-id"]
    chosen = client.post(path, headers={"X-Amz-Target": target, "X-Request-Id": "ci-run-7"},
                         content=b"{}")
    assert chosen.headers["x-amzn-requestid"] == chosen.headers["x-request-id"] == "ci-run-7"


def test_oci_responses_carry_the_request_id(served):
    client = served[0]
    answer = client.get("/v2/", headers={"X-Request-Id": "pull-1"})
    assert answer.status_code == 401 and answer.headers["x-request-id"] == "pull-1"
    assert "pull-1" not in answer.text  # the OCI error body's format is fixed
    assert len(client.get("/healthz").headers["x-request-id"]) == 36


def test_the_ecr_caller_operation_and_repository_are_logged(served, caplog):
    client, state, key = served
    with caplog.at_level(logging.INFO, logger="berth.access"):
        answer = _signed(client, key, "/", ECR + "DescribeImages", "ecr",
                         {"repositoryName": "nowhere"})
    assert answer.status_code == 400, answer.text  # RepositoryNotFoundException
    [line] = _access(caplog)
    account = state.iam.identities.admin_account().id
    assert line["protocol"] == "ecr" and line["route"] == "DescribeImages"
    assert line["principal_arn"] == f"arn:aws:iam::{account}:root"
    assert (line["account_id"], line["region"], line["repository"]) == (
        account, "us-east-1", "nowhere")
    assert line["request_id"] == answer.headers["x-request-id"]


def test_the_admin_caller_is_logged(served, caplog):
    client, state, key = served
    with caplog.at_level(logging.INFO, logger="berth.access"):
        answer = _signed(client, key, "/admin", ADMIN + "ListAccounts", "berth", {})
    assert answer.status_code == 200, answer.text
    [line] = _access(caplog)
    assert line["protocol"] == "admin" and line["route"] == "ListAccounts"
    assert line["principal_arn"].endswith(":root") and line["status"] == 200
    bad = replace(key, secret="x" * 40)
    with caplog.at_level(logging.INFO, logger="berth.access"):
        _signed(client, bad, "/admin", ADMIN + "ListAccounts", "berth", {})
    assert _access(caplog)[-1]["principal_arn"] == ""


def test_the_oci_caller_registry_and_repository_are_logged(served, caplog):
    client, state, key = served
    token, _ = state.iam.tokens.mint(key.id)
    with caplog.at_level(logging.INFO, logger="berth.access"):
        answer = client.get("/v2/team/web/tags/list", headers={"Authorization": basic(token)})
    assert answer.status_code == 404, answer.text
    [line] = _access(caplog)
    account = state.iam.identities.admin_account().id
    assert line["route"] == "/v2/{name:path}/tags/list" and line["repository"] == "team/web"
    assert line["principal_arn"] == f"arn:aws:iam::{account}:root"
    assert (line["account_id"], line["region"]) == (account, "us-east-1")
    assert line["bytes_out"] == len(answer.content)


def test_the_access_log_is_off_with_the_setting(tmp_path, caplog):
    migrated_sqlite(tmp_path)
    app = create_app(Settings(data_dir=tmp_path, access_log=False), run_jobs=False)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="berth.access"):
        assert "x-request-id" in client.get("/healthz").headers
    assert not _access(caplog)
