"""Repository policies through the ECR API: boto3 against the full app served by uvicorn,
signed with keys Berth made."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.unit.api.ecr.support import (ALLOW_ECR, REGION, code_of as _code, grant,
                                        message_of as _message, server_fixture)

server = server_fixture("ecr-policies")


# -- repository policies -------------------------------------------------------------------
def test_set_get_delete_repository_policy(server):
    server.repository("pol/basic")
    client = server.client()
    text = grant("arn:aws:iam::111122223333:root", ["ecr:BatchGetImage"])
    done = client.set_repository_policy(repositoryName="pol/basic", policyText=text)
    assert (done["registryId"], done["repositoryName"], done["policyText"]) == (
        server.admin_account, "pol/basic", text)
    assert client.get_repository_policy(repositoryName="pol/basic")["policyText"] == text
    deleted = client.delete_repository_policy(repositoryName="pol/basic")
    assert deleted["policyText"] == text and deleted["registryId"] == server.admin_account
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException) as caught:
        client.get_repository_policy(repositoryName="pol/basic")
    assert _message(caught) == (
        "Repository policy does not exist for the repository with name 'pol/basic' in the "
        f"registry with id '{server.admin_account}'")
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.delete_repository_policy(repositoryName="pol/basic")


def test_a_missing_repository_is_not_found(server):
    client = server.client()
    for call in (lambda: client.get_repository_policy(repositoryName="pol/none"),
                 lambda: client.delete_repository_policy(repositoryName="pol/none"),
                 lambda: client.set_repository_policy(repositoryName="pol/none",
                                                      policyText=grant("*"))):
        with pytest.raises(client.exceptions.RepositoryNotFoundException) as caught:
            call()
        assert _message(caught) == (
            "The repository with name 'pol/none' does not exist in the registry with id "
            f"'{server.admin_account}'")


@pytest.mark.parametrize("text, where", [
    ("{not json", "not valid JSON"),
    (ALLOW_ECR, "Statement[0]: needs a Principal"),
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}]}), "Statement[0].Effect"),
    ("", "not valid JSON"),
])
def test_a_malformed_repository_policy_answers_ecrs_exact_text(server, text, where, caplog):
    server.repository("pol/malformed")
    client = server.client()
    with caplog.at_level("INFO", logger="berth.api.ecr"):
        with pytest.raises(client.exceptions.InvalidParameterException) as caught:
            client.set_repository_policy(repositoryName="pol/malformed", policyText=text)
    # ECR's text, no more: Terraform's AWS provider matches on it.
    assert _message(caught) == ("Invalid parameter at 'PolicyText' failed to satisfy "
                                "constraint: 'Invalid repository policy provided'")
    assert any(where in r.getMessage() for r in caplog.records)  # what and where: the log's


def test_a_policy_locking_the_caller_out_needs_force(server):
    server.repository("pol/lockout")
    dev = server.account_user(server.admin_account, "lockout-dev")
    client = server.client(dev)
    me = f"arn:aws:iam::{server.admin_account}:user/lockout-dev"
    lockout = grant(me, "ecr:SetRepositoryPolicy", effect="Deny")
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.set_repository_policy(repositoryName="pol/lockout", policyText=lockout)
    assert "prevent you from setting a repository policy" in _message(caught)
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.get_repository_policy(repositoryName="pol/lockout")  # nothing was stored
    client.set_repository_policy(repositoryName="pol/lockout", policyText=lockout, force=True)
    # Now it binds, at once: the caller may not set (or lift) it any more; the admin may.
    with pytest.raises(ClientError) as caught:
        client.set_repository_policy(repositoryName="pol/lockout", policyText=grant("*"),
                                     force=True)
    assert _code(caught) == "AccessDeniedException"
    assert "explicit deny in a resource-based policy" in _message(caught)
    server.client().delete_repository_policy(repositoryName="pol/lockout")
    client.set_repository_policy(repositoryName="pol/lockout", policyText=grant("*"))


def test_a_missing_repository_comes_before_the_lockout(server):
    client = server.client(server.account_user(server.admin_account, "lockout-missing"))
    me = f"arn:aws:iam::{server.admin_account}:user/lockout-missing"
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.set_repository_policy(repositoryName="pol/absent",
                                     policyText=grant(me, "ecr:*", effect="Deny"))


def test_the_action_is_authorized(server):
    server.repository("pol/authz")
    client = server.client(server.account_user(server.admin_account, "reader", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetRepositoryPolicy", "Resource": "*"}]})))
    with pytest.raises(ClientError) as caught:
        client.set_repository_policy(repositoryName="pol/authz", policyText=grant("*"))
    assert _code(caught) == "AccessDeniedException"
    assert "ecr:SetRepositoryPolicy" in _message(caught)
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.get_repository_policy(repositoryName="pol/authz")


def test_cross_account_needs_the_repository_policy(server):
    server.repository("pol/shared")
    other, key = server.account_with_user("team-b")
    client = server.client(key)
    owner = server.admin_account
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert _code(caught) == "AccessDeniedException"
    assert _message(caught) == (
        f"User: arn:aws:iam::{other}:user/dev is not authorized to perform: "
        f"ecr:GetRepositoryPolicy on resource: arn:aws:ecr:{REGION}:{owner}:repository/"
        "pol/shared because no resource-based policy allows the ecr:GetRepositoryPolicy "
        "action")
    text = grant(f"arn:aws:iam::{other}:root", ["ecr:GetRepositoryPolicy"])
    server.client().set_repository_policy(repositoryName="pol/shared", policyText=text)
    got = client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert got["registryId"] == owner and got["policyText"] == text
    # Its own registry is untouched: the same name there does not exist.
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.get_repository_policy(repositoryName="pol/shared")
    server.client().delete_repository_policy(repositoryName="pol/shared")
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert _code(caught) == "AccessDeniedException"
