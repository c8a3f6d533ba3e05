"""The encryption-key operations of the admin API: created, listed, described, disabled,
enabled and rotated per account and region, authorized as KMS actions on the key's ARN, and
honoured by the key store blob encryption uses."""
from __future__ import annotations

import json

import pytest

from berth.keys import KeyService, KeyStore
from berth.storage.blobs.keyring import KeyUnavailable

REGION = "us-east-1"


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["__type"] == code
    return response.json()["message"]


@pytest.fixture
def team(admin_api):
    return admin_api.account("team-a").id


def test_a_keys_life(admin_api, admin_root, team):
    call = admin_api.call
    acct = {"AccountId": team}
    made = _ok(call(admin_root, "CreateKey", {**acct, "Description": "web"}))["KeyMetadata"]
    assert made == {
        "KeyId": made["KeyId"], "Arn": f"arn:aws:kms:{REGION}:{team}:key/{made['KeyId']}",
        "AWSAccountId": team, "Region": REGION, "Description": "web", "Enabled": True,
        "KeyState": "Enabled", "KeyManager": "CUSTOMER", "AliasName": None,
        "CreationDate": made["CreationDate"], "KeyVersion": 1, "LastRotationDate": None}
    key = {**acct, "KeyId": made["KeyId"]}
    by_arn = {**acct, "KeyId": made["Arn"]}
    assert _ok(call(admin_root, "DescribeKey", by_arn))["KeyMetadata"] == made
    assert _ok(call(admin_root, "ListKeys", acct))["Keys"] == [made]
    assert _ok(call(admin_root, "ListKeys", {**acct, "Region": "eu-west-1"}))["Keys"] == []

    store = KeyStore(admin_api.iam.db, admin_api.iam.identities.master)
    ref = f"kms-{made['KeyId']}"
    data_key, wrapped = store.new_data_key(ref)
    assert _ok(call(admin_root, "DisableKey", key))["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(KeyUnavailable):
        store.unwrap(ref, wrapped)
    assert _ok(call(admin_root, "EnableKey", by_arn))["KeyMetadata"]["Enabled"] is True
    rotated = _ok(call(admin_root, "RotateKey", key))["KeyMetadata"]
    assert rotated["KeyVersion"] == 2 and rotated["LastRotationDate"]
    assert store.unwrap(ref, wrapped) == data_key


def test_refusals_say_what_kms_would(admin_api, admin_root, team):
    call = admin_api.call
    acct = {"AccountId": team}
    absent = {**acct, "KeyId": "00000000-0000-4000-8000-000000000000"}
    for operation in ("DescribeKey", "DisableKey", "EnableKey", "RotateKey"):
        _error(call(admin_root, operation, absent), 404, "NotFoundException")
    _error(call(admin_root, "DescribeKey", {**acct, "KeyId": "not a key"}), 404,
           "NotFoundException")
    _error(call(admin_root, "CreateKey", {**acct, "Region": "mars-1"}), 400, "ValidationError")
    _error(call(admin_root, "CreateKey", {**acct, "Description": 7}), 400, "ValidationError")
    other = admin_api.account("team-b").id
    theirs = _ok(call(admin_root, "CreateKey", {"AccountId": other}))["KeyMetadata"]
    _error(call(admin_root, "DescribeKey", {**acct, "KeyId": theirs["Arn"]}), 400,
           "ValidationError")
    _error(call(admin_root, "DescribeKey", {**acct, "KeyId": theirs["KeyId"]}), 404,
           "NotFoundException")


def test_the_managed_key_is_described_by_alias_but_not_disabled(admin_api, admin_root, team):
    with admin_api.iam.db.write() as tx:  # as KMS repositories without a key make it
        KeyService(admin_api.iam.db, admin_api.iam.identities.master).managed_default(
            tx, team, REGION)
    managed = {"AccountId": team, "KeyId": "alias/aws/ecr"}
    found = _ok(admin_api.call(admin_root, "DescribeKey", managed))["KeyMetadata"]
    assert (found["KeyManager"], found["AliasName"]) == ("AWS", "alias/aws/ecr")
    _error(admin_api.call(admin_root, "DisableKey", managed), 400,
           "UnsupportedOperationException")


def test_a_root_manages_its_own_accounts_keys_only(admin_api, team):
    other = admin_api.account("team-b").id
    key = admin_api.root_key(team)
    made = _ok(admin_api.call(key, "CreateKey"))["KeyMetadata"]  # its own account's
    assert made["AWSAccountId"] == team
    message = _error(admin_api.call(key, "CreateKey", {"AccountId": other}), 400,
                     "AccessDeniedException")
    assert "kms:CreateKey" in message and "administrator account" in message


def test_users_need_the_kms_action_on_the_keys_arn(admin_api, admin_root, team):
    made = _ok(admin_api.call(admin_root, "CreateKey", {"AccountId": team}))["KeyMetadata"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": made["Arn"]}]})
    alice = admin_api.user_key(team, "alice", policy)
    _ok(admin_api.call(alice, "DescribeKey", {"KeyId": made["KeyId"]}))
    message = _error(admin_api.call(alice, "DisableKey", {"KeyId": made["KeyId"]}), 400,
                     "AccessDeniedException")
    assert f"kms:DisableKey on resource: {made['Arn']}" in message
    _error(admin_api.call(alice, "RotateKey", {"KeyId": made["KeyId"]}), 400,
           "AccessDeniedException")
