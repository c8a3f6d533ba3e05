"""The secret operations through the admin API: per account and region (the default region
unless named), authorized as berth: actions on the account's root; the value is sealed and
never returned, refused values are ValidationErrors that do not quote it."""
from __future__ import annotations

import json

from berth.secrets import SecretService

NAME = "ecr-pullthroughcache/docker-hub"
TOKEN = "dckr_pat_never-shown"
VALUE = json.dumps({"username": "alice", "accessToken": TOKEN})


def test_put_list_delete_as_the_account_root(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    put = admin_api.call(root, "PutSecret", {"Name": NAME, "SecretString": VALUE})
    assert put.status_code == 200, put.text
    made = put.json()["Secret"]
    assert set(made) == {"Name", "ARN", "CreatedAt", "UpdatedAt"}
    assert made["ARN"].startswith(f"arn:aws:secretsmanager:us-east-1:{account}:secret:{NAME}-")
    again = admin_api.call(root, "PutSecret", {"Name": NAME, "SecretString": VALUE})
    assert again.json()["Secret"]["ARN"] == made["ARN"]
    listed = admin_api.call(root, "ListSecrets", {})
    assert listed.json() == {"Secrets": [again.json()["Secret"]]}
    assert TOKEN not in put.text + again.text + listed.text
    master = admin_api.iam.identities.master
    assert SecretService(admin_api.iam.db, master).resolve(made["ARN"])["accessToken"] == TOKEN
    assert admin_api.call(root, "DeleteSecret", {"Name": NAME}).json() == {}
    gone = admin_api.call(root, "DeleteSecret", {"Name": NAME})
    assert gone.status_code == 404 and gone.json()["__type"] == "SecretNotFoundException"


def test_a_region_is_named_or_the_default_one(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    put = admin_api.call(root, "PutSecret", {"Name": "eu", "SecretString": "{}",
                                             "Region": "eu-west-1"})
    assert ":eu-west-1:" in put.json()["Secret"]["ARN"]
    assert admin_api.call(root, "ListSecrets", {}).json() == {"Secrets": []}
    assert [s["Name"] for s in admin_api.call(root, "ListSecrets", {
        "Region": "eu-west-1"}).json()["Secrets"]] == ["eu"]
    unknown = admin_api.call(root, "ListSecrets", {"Region": "mars-1"})
    assert unknown.status_code == 400 and "not served here" in unknown.json()["message"]


def test_bad_names_and_values_are_validation_errors_without_the_value(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    for name, value, reason in (
            ("hub-abcdef", "{}", "hyphen followed by six"),
            (NAME, json.dumps({"username": "alice", "password": TOKEN}), "accessToken"),
            ("plain", f"{TOKEN} is not JSON", "JSON object")):
        refused = admin_api.call(root, "PutSecret", {"Name": name, "SecretString": value})
        assert refused.status_code == 400
        assert refused.json()["__type"] == "ValidationError"
        assert reason in refused.json()["message"] and TOKEN not in refused.text
    assert admin_api.call(root, "ListSecrets", {}).json() == {"Secrets": []}


def test_an_unknown_account_is_no_such_entity(admin_api, admin_root):
    refused = admin_api.call(admin_root, "PutSecret", {
        "AccountId": "999999999999", "Name": "x", "SecretString": "{}"})
    assert refused.json()["__type"] == "NoSuchEntity"


def test_a_user_needs_the_berth_action_and_another_account_is_out_of_reach(admin_api):
    account = admin_api.account("team-a").id
    other = admin_api.account("team-b").id
    plain = admin_api.user_key(account, "plain")
    denied = admin_api.call(plain, "PutSecret", {"Name": "x", "SecretString": VALUE})
    assert denied.status_code == 400 and denied.json()["__type"] == "AccessDeniedException"
    assert "berth:PutSecret" in denied.json()["message"]
    allowed = admin_api.user_key(account, "ops", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "berth:*Secret*", "Resource": "*"}]}))
    assert admin_api.call(allowed, "ListSecrets", {}).status_code == 200
    across = admin_api.call(allowed, "ListSecrets", {"AccountId": other})
    assert across.json()["__type"] == "AccessDeniedException"


def test_the_audit_trail_leaves_the_value_out():
    from berth.audit.events import parameters
    kept = json.loads(parameters({"AccountId": "1", "Name": NAME, "SecretString": VALUE}))
    assert kept == {"AccountId": "1", "Name": NAME}
