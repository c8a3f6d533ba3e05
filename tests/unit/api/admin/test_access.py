"""Who may do what: a caller manages its own account (root: everything; users: what their
policies allow); other accounts and the accounts themselves belong to the administrator
account, whose users also need a policy."""
from __future__ import annotations

import json

import pytest

from berth.keys import KeyService
from tests.unit.api.admin.conftest import ALLOW_ALL_IAM


def _denied(response, action: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["__type"] == "AccessDeniedException"
    assert f"is not authorized to perform: {action}" in body["message"]
    return body["message"]


def _policy(action: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resource}]})


def test_a_user_without_a_policy_is_denied(admin_api):
    team = admin_api.account("team-a")
    key = admin_api.user_key(team.id, "alice")
    message = _denied(admin_api.call(key, "CreateUser", {"UserName": "bob"}),
                      "iam:CreateUser")
    assert f"arn:aws:iam::{team.id}:user/bob" in message
    assert "no identity-based policy allows" in message


def test_a_user_with_an_allowing_policy_succeeds(admin_api):
    team = admin_api.account("team-a")
    key = admin_api.user_key(team.id, "alice", _policy(
        "iam:CreateUser", f"arn:aws:iam::{team.id}:user/builders/*"))
    response = admin_api.call(key, "CreateUser", {"UserName": "bob", "Path": "/builders/"})
    assert response.status_code == 200, response.text
    assert response.json()["User"]["AccountId"] == team.id  # the caller's own by default
    _denied(admin_api.call(key, "CreateUser", {"UserName": "carol"}), "iam:CreateUser")
    _denied(admin_api.call(key, "ListUsers"), "iam:ListUsers")


def test_a_root_manages_its_own_account_only(admin_api):
    team, other = admin_api.account("team-a"), admin_api.account("team-b")
    key = admin_api.root_key(team.id)
    response = admin_api.call(key, "CreateUser", {"AccountId": team.id, "UserName": "bob"})
    assert response.status_code == 200
    message = _denied(admin_api.call(key, "CreateUser", {"AccountId": other.id,
                                                         "UserName": "bob"}),
                      "iam:CreateUser")
    assert "administrator account" in message
    _denied(admin_api.call(key, "ListUsers", {"AccountId": other.id}), "iam:ListUsers")


def test_a_non_admin_account_cannot_create_or_list_accounts(admin_api):
    team = admin_api.account("team-a")
    for key in (admin_api.root_key(team.id), admin_api.user_key(team.id, "alice",
                                                                ALLOW_ALL_IAM)):
        _denied(admin_api.call(key, "CreateAccount", {"AccountName": "mine"}),
                "organizations:CreateAccount")
        _denied(admin_api.call(key, "ListAccounts"), "organizations:ListAccounts")


def test_the_admin_root_manages_every_account(admin_api, admin_root):
    response = admin_api.call(admin_root, "CreateAccount", {"AccountName": "team-a",
                                                            "AccountId": "111122223333"})
    assert response.status_code == 200, response.text
    assert response.json()["Account"] == {
        "AccountId": "111122223333", "AccountName": "team-a",
        "Arn": "arn:aws:iam::111122223333:root", "IsAdmin": False,
        "CreateDate": response.json()["Account"]["CreateDate"]}
    response = admin_api.call(admin_root, "CreateAccessKey", {"AccountId": "111122223333"})
    assert response.json()["AccessKey"]["UserName"] is None
    names = [a["AccountName"] for a in admin_api.call(admin_root, "ListAccounts").json()[
        "Accounts"]]
    assert names == ["admin", "team-a"]


def test_admin_users_need_a_policy_too(admin_api, admin_account):
    team = admin_api.account("team-a")
    plain = admin_api.user_key(admin_account.id, "clerk")
    _denied(admin_api.call(plain, "ListAccounts"), "organizations:ListAccounts")
    _denied(admin_api.call(plain, "ListUsers", {"AccountId": team.id}), "iam:ListUsers")
    operator = admin_api.user_key(admin_account.id, "operator", ALLOW_ALL_IAM)
    assert admin_api.call(operator, "ListAccounts").status_code == 200
    response = admin_api.call(operator, "CreateUser", {"AccountId": team.id,
                                                       "UserName": "bob"})
    assert response.status_code == 200, response.text


def test_key_operations_are_on_the_key_owner(admin_api):
    team = admin_api.account("team-a")
    alice = admin_api.user_key(team.id, "alice", _policy(
        "iam:UpdateAccessKey", f"arn:aws:iam::{team.id}:user/alice"))
    bob = admin_api.user_key(team.id, "bob")
    own = {"AccountId": team.id, "AccessKeyId": alice.id, "Status": "Active"}
    assert admin_api.call(alice, "UpdateAccessKey", own).status_code == 200
    refused = admin_api.call(alice, "UpdateAccessKey", {**own, "AccessKeyId": bob.id})
    message = _denied(refused, "iam:UpdateAccessKey")
    # The request names a key, not its owner: the refusal names the account, as for no key.
    assert f"on resource: arn:aws:iam::{team.id}:root " in message
    assert "bob" not in message
    missing = admin_api.call(alice, "UpdateAccessKey", {**own, "AccessKeyId": NO_SUCH_KEY})
    assert _refusal(missing) == _refusal(refused)


def test_a_users_stored_path_decides_but_refusals_name_the_request(admin_api):
    team = admin_api.account("team-a")
    alice = admin_api.user_key(team.id, "alice", _policy(
        "iam:ListUserPolicies", f"arn:aws:iam::{team.id}:user/builders/*"))
    admin_api.iam.identities.create_user(team.id, "bob", "/builders/")
    admin_api.iam.identities.create_user(team.id, "carol", "/secret-team/")
    mine = {"AccountId": team.id}
    allowed = admin_api.call(alice, "ListUserPolicies", {**mine, "UserName": "bob"})
    assert allowed.status_code == 200, allowed.text
    refused = admin_api.call(alice, "ListUserPolicies", {**mine, "UserName": "carol"})
    assert "secret-team" not in _denied(refused, "iam:ListUserPolicies")
    missing = admin_api.call(alice, "ListUserPolicies", {**mine, "UserName": "dan"})
    assert _refusal(missing) == _refusal(refused, "carol", "dan")


def test_an_explicit_deny_on_the_stored_path_is_kept(admin_api):
    team = admin_api.account("team-a")
    alice = admin_api.user_key(team.id, "alice", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*",
             "Resource": f"arn:aws:iam::{team.id}:user/ops/*"}]}))
    admin_api.iam.identities.create_user(team.id, "root-ops", "/ops/")
    message = _denied(admin_api.call(alice, "DeleteUser", {"UserName": "root-ops"}),
                      "iam:DeleteUser")
    assert "user/ops/root-ops with an explicit deny" in message
    assert admin_api.iam.identities.find_user(team.id, "root-ops") is not None


@pytest.mark.parametrize("caller", ["root", "user", "admin-clerk"])
def test_refusals_on_another_account_do_not_tell_what_exists(admin_api, admin_account,
                                                             caller):
    victim, team = admin_api.account("victim"), admin_api.account("team-b")
    ids = admin_api.iam.identities
    ids.create_user(victim.id, "noperm", "/secret-team/")
    their_key = ids.create_access_key(victim.id, "noperm")
    with admin_api.iam.db.write() as tx:
        managed = KeyService(admin_api.iam.db, ids.master).managed_default(
            tx, victim.id, "us-east-1")
    key = {"root": lambda: admin_api.root_key(team.id),
           "user": lambda: admin_api.user_key(team.id, "mallory", ALLOW_EVERYTHING),
           "admin-clerk": lambda: admin_api.user_key(admin_account.id, "clerk")}[caller]()
    at = {"AccountId": victim.id}
    pairs = [  # (operation, params naming what exists, the same naming nothing)
        ("ListUserPolicies", {"UserName": "noperm"}, {"UserName": "nobody"}),
        ("DeleteUser", {"UserName": "noperm"}, {"UserName": "nobody"}),
        ("ListAccessKeys", {"UserName": "noperm"}, {"UserName": "nobody"}),
        ("DeleteAccessKey", {"AccessKeyId": their_key.id}, {"AccessKeyId": NO_SUCH_KEY}),
        ("UpdateAccessKey", {"AccessKeyId": their_key.id, "Status": "Inactive"},
         {"AccessKeyId": NO_SUCH_KEY, "Status": "Inactive"}),
        ("DescribeKey", {"KeyId": managed.id}, {"KeyId": NO_SUCH_KMS_KEY}),
        ("DisableKey", {"KeyId": managed.id}, {"KeyId": NO_SUCH_KMS_KEY}),
        ("DescribeKey", {"KeyId": "alias/aws/ecr"}, {"KeyId": "alias/aws/none"}),
    ]
    for operation, existing, missing in pairs:
        found = admin_api.call(key, operation, {**at, **existing})
        assert found.json()["__type"] == "AccessDeniedException", found.text
        for secret in ("secret-team", their_key.id, managed.id):  # unless the request names it
            assert secret not in found.text or secret in existing.values(), found.text
        names = [(existing[k], missing[k]) for k in existing if existing[k] != missing[k]]
        assert _refusal(admin_api.call(key, operation, {**at, **missing})) == _refusal(
            found, *names[0]), operation
    assert ids.find_user(victim.id, "noperm") is not None


NO_SUCH_KEY = "AKIA0000000000000000"
NO_SUCH_KMS_KEY = "00000000-0000-4000-8000-000000000000"
ALLOW_EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _refusal(response, named: str | None = None, instead: str | None = None) -> tuple:
    """All of a response but its request id; ``named`` read as ``instead`` in its body."""
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("x-amzn-requestid", "x-request-id", "content-length")}
    body = response.content
    if named is not None:
        body = body.replace(named.encode(), instead.encode())
    return response.status_code, headers, body
