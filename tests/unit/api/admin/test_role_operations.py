"""The role operations through the admin API, with IAM's names and errors: made, shown,
listed, updated, their inline policies, deleted; authorized as iam: actions on the role's
ARN (a user allowed on one role's path only may manage only those)."""
from __future__ import annotations

import json

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "sts:AssumeRole"}]}
PULL = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]}


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_roles_through_the_admin_api(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    made = _ok(call(root, "CreateRole", {"RoleName": "ci", "Path": "/build/",
                                         "AssumeRolePolicyDocument": TRUST,
                                         "MaxSessionDuration": "7200"}))["Role"]
    assert made["Arn"] == f"arn:aws:iam::{account}:role/build/ci"
    assert made["RoleId"].startswith("AROA") and made["MaxSessionDuration"] == 7200
    assert json.loads(made["AssumeRolePolicyDocument"]) == TRUST
    assert _ok(call(root, "GetRole", {"RoleName": "ci"}))["Role"] == made
    assert [r["RoleName"] for r in _ok(call(root, "ListRoles", {}))["Roles"]] == ["ci"]
    again = call(root, "CreateRole", {"RoleName": "CI", "AssumeRolePolicyDocument": TRUST})
    assert again.status_code == 409 and again.json()["__type"] == "EntityAlreadyExists"
    _ok(call(root, "UpdateRole", {"RoleName": "ci", "Description": "builds"}))
    other = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"AWS": account}}]}
    _ok(call(root, "UpdateAssumeRolePolicy", {"RoleName": "ci", "PolicyDocument": other}))
    shown = _ok(call(root, "GetRole", {"RoleName": "ci"}))["Role"]
    assert shown["Description"] == "builds" and json.loads(
        shown["AssumeRolePolicyDocument"]) == other
    _ok(call(root, "PutRolePolicy", {"RoleName": "ci", "PolicyName": "pull",
                                     "PolicyDocument": PULL}))
    assert _ok(call(root, "ListRolePolicies", {"RoleName": "ci"})) == {"PolicyNames": ["pull"]}
    assert _ok(call(root, "GetRolePolicy", {"RoleName": "ci", "PolicyName": "pull"}))[
        "PolicyDocument"] == PULL
    _ok(call(root, "DeleteRolePolicy", {"RoleName": "ci", "PolicyName": "pull"}))
    _ok(call(root, "DeleteRole", {"RoleName": "ci"}))
    gone = call(root, "GetRole", {"RoleName": "ci"})
    assert gone.status_code == 404 and gone.json()["__type"] == "NoSuchEntity"


def test_refusals_are_iams(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    call = admin_api.call
    malformed = call(root, "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": PULL})
    assert malformed.status_code == 400
    assert malformed.json()["__type"] == "MalformedPolicyDocument"
    for params in ({"RoleName": "r", "AssumeRolePolicyDocument": TRUST,
                    "MaxSessionDuration": "soon"},
                   {"RoleName": "r", "AssumeRolePolicyDocument": TRUST,
                    "MaxSessionDuration": "60"},
                   {"RoleName": "bad name", "AssumeRolePolicyDocument": TRUST}):
        refused = call(root, "CreateRole", params)
        assert refused.status_code == 400 and refused.json()["__type"] == "ValidationError"
    missing = call(root, "PutRolePolicy", {"RoleName": "nope", "PolicyName": "p",
                                           "PolicyDocument": PULL})
    assert missing.status_code == 404


def test_a_user_allowed_on_one_path_manages_only_those_roles(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    _ok(admin_api.call(root, "CreateRole", {"RoleName": "other",
                                            "AssumeRolePolicyDocument": TRUST}))
    admin_api.iam.identities.create_user(account, "ops")
    admin_api.iam.identities.put_user_policy(account, "ops", "roles", json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:*Role*",
            "Resource": f"arn:aws:iam::{account}:role/ci/*"}]}))
    key = admin_api.iam.identities.create_access_key(account, "ops")
    _ok(admin_api.call(key, "CreateRole", {"RoleName": "b", "Path": "/ci/",
                                           "AssumeRolePolicyDocument": TRUST}))
    denied = admin_api.call(key, "DeleteRole", {"RoleName": "other"})
    assert denied.status_code == 400 and denied.json()["__type"] == "AccessDeniedException"
