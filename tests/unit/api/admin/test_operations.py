"""Every admin operation through the API, as the administrator's root."""
from __future__ import annotations

import json

from berth.api.admin import OPERATIONS

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]}


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_the_operations_mirror_the_cli():
    assert set(OPERATIONS) == {
        "CreateAccount", "ListAccounts", "CreateUser", "ListUsers", "DeleteUser",
        "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey",
        "PutUserPolicy", "GetUserPolicy", "ListUserPolicies", "DeleteUserPolicy",
        "CreateKey", "ListKeys", "DescribeKey", "DisableKey", "EnableKey", "RotateKey",
        "RunGarbageCollection", "StartGarbageCollection", "GetGarbageCollection",
        "GetStorageUsage", "GetUsageReport", "RecordUsageSample",
        "PutEventTarget", "ListEventTargets", "DeleteEventTarget", "ListEventDeliveries",
        "ReplayEventDeliveries", "RunLifecyclePolicies", "PreviewLifecyclePolicy",
        "LookupAuditEvents", "ImportVulnerabilities", "ListVulnerabilitySources", "ExportSbom",
        "PutSecret", "ListSecrets", "DeleteSecret", "PutReplicationSite",
        "ListReplicationSites", "DeleteReplicationSite", "CreateRole", "GetRole", "ListRoles",
        "UpdateRole", "UpdateAssumeRolePolicy", "DeleteRole", "PutRolePolicy", "GetRolePolicy",
        "ListRolePolicies", "DeleteRolePolicy", "CreateOpenIDConnectProvider",
        "ListOpenIDConnectProviders", "GetOpenIDConnectProvider", "DeleteOpenIDConnectProvider",
        "PutServiceQuota", "DeleteServiceQuota", "ListServiceQuotas", "CreateSigningProfile",
        "ListSigningProfiles", "GetSigningProfile", "RevokeSigningProfile", "GetSigningTrust",
        "RotateSigningProfile", "DisableSigningProfile", "EnableSigningProfile",
        "VerifyImageSignatures", "GetPublicRegistry", "PutPublicRegistryAlias",
        "CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile"}


def test_users_keys_and_policies(admin_api, admin_root):
    call = admin_api.call
    account = _ok(call(admin_root, "CreateAccount", {"AccountName": "team-a"}))["Account"]
    acct = {"AccountId": account["AccountId"]}
    user = {**acct, "UserName": "alice"}
    created = _ok(call(admin_root, "CreateUser", {**user, "Path": "/dev/"}))["User"]
    assert created["Arn"] == f"arn:aws:iam::{acct['AccountId']}:user/dev/alice"
    assert [u["UserName"] for u in _ok(call(admin_root, "ListUsers", acct))["Users"]] == [
        "alice"]

    key = _ok(call(admin_root, "CreateAccessKey", user))["AccessKey"]
    assert list(key) == ["AccessKeyId", "SecretAccessKey", "Status", "UserName", "AccountId",
                         "CreateDate"]
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    listed = _ok(call(admin_root, "ListAccessKeys", user))["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]
    _ok(call(admin_root, "UpdateAccessKey", {**acct, "AccessKeyId": key["AccessKeyId"],
                                             "Status": "Inactive"}))
    assert _ok(call(admin_root, "ListAccessKeys", user))["AccessKeyMetadata"][0][
        "Status"] == "Inactive"
    _ok(call(admin_root, "DeleteAccessKey", {**acct, "AccessKeyId": key["AccessKeyId"]}))
    assert _ok(call(admin_root, "ListAccessKeys", user))["AccessKeyMetadata"] == []

    policy = {**user, "PolicyName": "pull"}
    _ok(call(admin_root, "PutUserPolicy", {**policy, "PolicyDocument": json.dumps(POLICY)}))
    assert _ok(call(admin_root, "ListUserPolicies", user)) == {"PolicyNames": ["pull"]}
    assert _ok(call(admin_root, "GetUserPolicy", policy)) == {
        "UserName": "alice", "PolicyName": "pull", "PolicyDocument": POLICY}
    _ok(call(admin_root, "DeleteUserPolicy", policy))
    assert call(admin_root, "GetUserPolicy", policy).status_code == 404
    _ok(call(admin_root, "DeleteUser", user))
    assert _ok(call(admin_root, "ListUsers", acct)) == {"Users": []}


def test_a_policy_document_may_be_an_object(admin_api, admin_root, admin_account):
    user = {"AccountId": admin_account.id, "UserName": "alice"}
    _ok(admin_api.call(admin_root, "CreateUser", user))
    _ok(admin_api.call(admin_root, "PutUserPolicy", {**user, "PolicyName": "p",
                                                     "PolicyDocument": POLICY}))
    assert admin_api.iam.identities.user_policies(admin_account.id, "alice") == {"p": POLICY}
