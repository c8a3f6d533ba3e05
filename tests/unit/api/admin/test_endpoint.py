"""The admin API's protocol: SigV4 in front of everything, JSON errors with AWS's codes, and
no 500 for anything a client sends."""
from __future__ import annotations

import json
from dataclasses import replace

from starlette.testclient import TestClient

from berth.app import create_app
from berth.config import Settings
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.credentials import admin_key


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["__type"] == code and response.headers["x-amzn-errortype"] == code
    return body["message"]


def test_a_signed_call_succeeds(admin_api, admin_root, admin_account):
    response = admin_api.call(admin_root, "CreateUser",
                              {"AccountId": admin_account.id, "UserName": "alice"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-amz-json-1.1")
    user = response.json()["User"]
    assert user["Arn"] == f"arn:aws:iam::{admin_account.id}:user/alice"


def test_unsigned_is_missing_authentication_token(admin_api):
    _error(admin_api.call(None, "ListAccounts"), 400, "MissingAuthenticationTokenException")


def test_a_wrong_secret_is_an_invalid_signature(admin_api, admin_root):
    response = admin_api.call(admin_root, "ListAccounts", secret="not-the-secret" * 3)
    _error(response, 400, "InvalidSignatureException")


def test_an_unknown_key_is_an_unrecognized_client(admin_api, admin_root):
    stranger = replace(admin_root, id="AKIANOSUCHKEY0000000")
    _error(admin_api.call(stranger, "ListAccounts"), 400, "UnrecognizedClientException")


def test_a_deactivated_key_is_an_unrecognized_client(admin_api, admin_root, admin_account):
    team = admin_api.account("team-a")
    key = admin_api.root_key(team.id)
    assert admin_api.call(key, "ListUsers", {"AccountId": team.id}).status_code == 200
    response = admin_api.call(admin_root, "UpdateAccessKey", {
        "AccountId": team.id, "AccessKeyId": key.id, "Status": "Inactive"})
    assert response.status_code == 200, response.text
    _error(admin_api.call(key, "ListUsers", {"AccountId": team.id}), 400,
           "UnrecognizedClientException")


def test_a_signature_for_another_service_is_refused(admin_api, admin_root):
    response = admin_api.call(admin_root, "ListAccounts", service="ecr")
    assert "service: 'berth'" in _error(response, 400, "InvalidSignatureException")


def test_identity_errors_keep_their_codes(admin_api, admin_root, admin_account):
    user = {"AccountId": admin_account.id, "UserName": "alice"}
    assert admin_api.call(admin_root, "CreateUser", user).status_code == 200
    _error(admin_api.call(admin_root, "CreateUser", user), 409, "EntityAlreadyExists")
    _error(admin_api.call(admin_root, "DeleteUser", {**user, "UserName": "bob"}), 404,
           "NoSuchEntity")
    _error(admin_api.call(admin_root, "CreateUser", {**user, "UserName": "bad name!"}), 400,
           "ValidationError")


def test_a_malformed_policy_says_where(admin_api, admin_root, admin_account):
    user = {"AccountId": admin_account.id, "UserName": "alice"}
    admin_api.call(admin_root, "CreateUser", user)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*", "Bogus": 1}]}
    response = admin_api.call(admin_root, "PutUserPolicy", {
        **user, "PolicyName": "p", "PolicyDocument": json.dumps(document)})
    assert "Statement[0].Bogus" in _error(response, 400, "MalformedPolicyDocument")
    response = admin_api.call(admin_root, "PutUserPolicy", {
        **user, "PolicyName": "p", "PolicyDocument": "{not json"})
    _error(response, 400, "MalformedPolicyDocument")


def test_bad_parameters_are_validation_errors(admin_api, admin_root, admin_account):
    cases = [("CreateUser", {"AccountId": admin_account.id}),
             ("CreateUser", {"AccountId": admin_account.id, "UserName": 7}),
             ("ListUsers", {"AccountId": admin_account.id, "Extra": "x"}),
             ("UpdateAccessKey", {"AccessKeyId": admin_root.id, "Status": "Paused"})]
    for operation, params in cases:
        _error(admin_api.call(admin_root, operation, params), 400, "ValidationError")


def test_protocol_mistakes(admin_api, admin_root):
    _error(admin_api.call(admin_root, "Nope"), 400, "UnknownOperationException")
    _error(admin_api.call(admin_root, "ListAccounts", target="IAM.ListAccounts"), 400,
           "UnknownOperationException")
    _error(admin_api.client.get("/admin"), 404, "UnknownOperationException")
    for body in ([1, 2], "text"):
        _error(admin_api.call(admin_root, "ListAccounts", body), 400, "ValidationError")


def test_a_body_that_is_not_json(admin_api, admin_root):
    response = admin_api.call(admin_root, "ListAccounts", raw=b"{oops")
    _error(response, 400, "SerializationException")


def test_the_app_serves_the_admin_api(tmp_path):
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    db.dispose()
    with TestClient(create_app(settings, run_jobs=False)) as client:
        response = client.post("/admin", headers={
            "X-Amz-Target": "BerthAdmin_20261122.ListAccounts"})
        assert response.json()["__type"] == "MissingAuthenticationTokenException"
        assert admin_key(tmp_path).id.startswith("AKIA")
