"""Who may do what: a caller manages its own account (root: everything; users: what their
policies allow); other accounts and the accounts themselves belong to the administrator
account, whose users also need a policy."""
from __future__ import annotations

import json

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
    message = _denied(admin_api.call(alice, "UpdateAccessKey", {**own, "AccessKeyId": bob.id}),
                      "iam:UpdateAccessKey")
    assert f"arn:aws:iam::{team.id}:user/bob" in message
