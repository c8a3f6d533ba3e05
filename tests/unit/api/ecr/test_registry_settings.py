"""The registry itself through the ECR API: DescribeRegistry, the account settings and the
registry policy; boto3 and the aws CLI against the full app served by uvicorn."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from berth.iam.tenancy import RegistryAddress
from berth.registry.settings import get_settings, update_settings
from tests.unit.api.ecr.support import (ALLOW_ECR, REGION, code_of as _code, grant,
                                        message_of as _message, server_fixture)
from tests.unit.api.ecr.test_real_clients import AWS_CLI

DEFAULTS = {"BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE", "REGISTRY_POLICY_SCOPE": "V2",
            "BLOB_MOUNTING": "DISABLED"}


server = server_fixture("ecr-settings")


def test_describe_registry(server):
    described = server.client().describe_registry()
    assert described["registryId"] == server.admin_account
    assert described["replicationConfiguration"] == {"rules": []}


def test_describe_registry_of_another_account(server):
    account, key = server.account_with_user("settings-a")
    assert server.client(key).describe_registry()["registryId"] == account


@pytest.mark.parametrize("name, default", sorted(DEFAULTS.items()))
def test_defaults(server, name, default):
    _, key = server.account_with_user(f"defaults-{name.lower().replace('_', '-')}")
    assert server.client(key).get_account_setting(name=name)["value"] == default


def test_put_then_get(server):
    account, key = server.account_with_user("settings-b")
    client = server.client(key)
    put = client.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    assert (put["name"], put["value"]) == ("BLOB_MOUNTING", "ENABLED")
    assert client.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"
    client.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")
    client.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
    assert client.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    # Per registry, as in ECR: the same account's registry in another region keeps its own.
    elsewhere = server.client(key, region="eu-west-1")
    assert elsewhere.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    registry_id = server.state.iam.registry_id(RegistryAddress(account, REGION))
    assert get_settings(server.state.registry.db, registry_id)["accountSettings"] == {
        "BLOB_MOUNTING": "DISABLED", "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE"}


def test_other_features_keys_are_kept(server):
    account, key = server.account_with_user("settings-c")
    registry_id = server.state.iam.registry_id(RegistryAddress(account, REGION))
    db = server.state.registry.db
    update_settings(db, registry_id, {"createOnPush": False})
    server.client(key).put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    assert get_settings(db, registry_id) == {
        "createOnPush": False, "accountSettings": {"BLOB_MOUNTING": "ENABLED"}}


@pytest.mark.parametrize("name, value, where", [
    ("NO_SUCH_SETTING", "V2", "'name'"),
    ("REGISTRY_POLICY_SCOPE", "V1", "'value'"),
    ("BASIC_SCAN_TYPE_VERSION", "CLAIR", "'value'"),
    ("BLOB_MOUNTING", "enabled", "'value'"),
])
def test_unknown_names_and_values_are_invalid(server, name, value, where):
    client = server.client()
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_account_setting(name=name, value=value)
    assert _message(caught).startswith(f"Invalid parameter at {where} failed to satisfy")
    if where == "'name'":
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.get_account_setting(name=name)


def test_the_actions_are_authorized(server):
    account, _ = server.account_with_user("settings-d")
    reader = server.account_user(account, "reader", json.dumps({
        "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:GetAccountSetting", "ecr:DescribeRegistry"],
         "Resource": "*"}]}))
    client = server.client(reader)
    assert client.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    assert client.describe_registry()["registryId"] == account
    with pytest.raises(ClientError) as caught:
        client.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "ecr:PutAccountSetting" in _message(caught)


def test_aws_cli(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(server.admin.env(REGION))

    def aws(*args: str) -> dict:
        done = subprocess.run([str(AWS_CLI), "ecr", *args, "--endpoint-url", server.url,
                               "--output", "json"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert aws("put-account-setting", "--name", "BLOB_MOUNTING", "--value", "ENABLED") == {
        "name": "BLOB_MOUNTING", "value": "ENABLED"}
    assert aws("get-account-setting", "--name", "BLOB_MOUNTING")["value"] == "ENABLED"
    assert aws("describe-registry") == {"registryId": server.admin_account,
                                        "replicationConfiguration": {"rules": []}}


# -- registry policies ---------------------------------------------------------------------
def test_put_get_delete_registry_policy(server):
    other, key = server.account_with_user("team-reg")
    client = server.client(key)
    with pytest.raises(client.exceptions.RegistryPolicyNotFoundException) as caught:
        client.get_registry_policy()
    assert _message(caught) == f"Registry policy does not exist in the registry with id '{other}'"
    with pytest.raises(client.exceptions.RegistryPolicyNotFoundException):
        client.delete_registry_policy()
    text = grant("arn:aws:iam::111122223333:root", ["ecr:CreateRepository",
                                                    "ecr:ReplicateImage"])
    put = client.put_registry_policy(policyText=text)
    assert (put["registryId"], put["policyText"]) == (other, text)
    got = client.get_registry_policy()
    assert (got["registryId"], got["policyText"]) == (other, text)
    deleted = client.delete_registry_policy()
    assert (deleted["registryId"], deleted["policyText"]) == (other, text)
    with pytest.raises(client.exceptions.RegistryPolicyNotFoundException):
        client.get_registry_policy()


def test_a_malformed_registry_policy_is_an_invalid_parameter(server):
    client = server.client()
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_registry_policy(policyText=ALLOW_ECR)
    assert _message(caught) == ("Invalid parameter at 'PolicyText' failed to satisfy "
                                "constraint: 'Invalid registry policy provided'")


def test_a_registry_policy_grants_another_account_at_once(server):
    server.repository("reg/shared")
    other, key = server.account_with_user("team-c")
    client = server.client(key)
    owner = server.admin_account
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="reg/shared")
    assert _code(caught) == "AccessDeniedException"
    server.client().put_registry_policy(
        policyText=grant(f"arn:aws:iam::{other}:root", "ecr:GetRepositoryPolicy"))
    try:
        with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
            client.get_repository_policy(registryId=owner, repositoryName="reg/shared")
    finally:
        server.client().delete_registry_policy()
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="reg/shared")
    assert _code(caught) == "AccessDeniedException"
