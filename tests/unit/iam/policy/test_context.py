"""Principals and the request context."""
from datetime import datetime, timezone

import pytest

from berth.iam.policy import Principal, RequestContext

from .builders import ACCOUNT, REPO


def test_principal_builders():
    root = Principal.root(ACCOUNT)
    assert root.arn == f"arn:aws:iam::{ACCOUNT}:root" and root.principal_type == "Account"
    alice = Principal.user(ACCOUNT, "alice", path="/dev/")
    assert alice.arn == f"arn:aws:iam::{ACCOUNT}:user/dev/alice" and alice.username == "alice"
    session = Principal.assumed_role(ACCOUNT, "builder", "ci-42", role_id="AROAEXAMPLEID1234567")
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/builder/ci-42"
    assert session.role_arn == f"arn:aws:iam::{ACCOUNT}:role/builder"
    assert session.userid == "AROAEXAMPLEID1234567:ci-42"
    assert session.principal_arn == session.role_arn   # aws:PrincipalArn of a session
    assert Principal.user(ACCOUNT, "x", partition="aws-cn").root_arn == \
        f"arn:aws-cn:iam::{ACCOUNT}:root"


def test_identity_chains():
    session = Principal.assumed_role(ACCOUNT, "builder", "ci")
    assert session.identities() == (f"arn:aws:iam::{ACCOUNT}:root", session.role_arn,
                                     session.arn)
    assert Principal.root(ACCOUNT).identities() == (f"arn:aws:iam::{ACCOUNT}:root",)
    assert Principal.anonymous().identities() == ()


@pytest.mark.parametrize("kwargs", [
    {"kind": "wizard", "account_id": ACCOUNT, "arn": "arn:aws:iam::1:user/x"},
    {"kind": "user", "account_id": ACCOUNT},
    {"kind": "user", "arn": "arn:aws:iam::1:user/x"},
    {"kind": "anonymous", "account_id": ACCOUNT},
])
def test_principal_validation(kwargs):
    with pytest.raises(ValueError):
        Principal(**kwargs)


def test_condition_keys_are_case_insensitive():
    ctx = RequestContext(Principal.user(ACCOUNT, "alice"), "ecr:PutImage", REPO,
                         keys={"aws:SourceIp": "203.0.113.1", "ecr:ResourceTag/Team": "a"})
    assert ctx.get("AWS:SOURCEIP") == "203.0.113.1"
    assert ctx.get("ecr:resourcetag/team") == "a"
    assert ctx.get("aws:absent") is None and not ctx.has("aws:absent")


def test_keys_that_differ_only_in_case_are_refused():
    with pytest.raises(ValueError):
        RequestContext(Principal.user(ACCOUNT, "a"), "ecr:PutImage", REPO,
                       keys={"aws:TagKeys": ["a"], "aws:tagkeys": ["b"]})


def test_derived_keys():
    ctx = RequestContext(Principal.user(ACCOUNT, "alice", userid="AIDAEXAMPLE"), "ecr:PutImage",
                         REPO)
    assert ctx.get("aws:PrincipalAccount") == ACCOUNT
    assert ctx.get("aws:PrincipalArn") == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert ctx.get("aws:PrincipalType") == "User"
    assert ctx.get("aws:username") == "alice" and ctx.get("aws:userid") == "AIDAEXAMPLE"
    assert ctx.get("aws:ResourceAccount") == ACCOUNT and ctx.resource_account == ACCOUNT
    assert isinstance(ctx.get("aws:CurrentTime"), datetime)
    session = RequestContext(Principal.assumed_role(ACCOUNT, "r", "s"), "ecr:PutImage", REPO)
    assert session.get("aws:username") is None   # only IAM users have one
    named_session = Principal("assumed-role", ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s",
                              username="r")
    assert RequestContext(named_session, "ecr:PutImage", REPO).get("aws:username") is None
    anonymous = RequestContext(Principal.anonymous(), "ecr:BatchGetImage", REPO)
    assert anonymous.get("aws:PrincipalAccount") is None
    assert anonymous.get("aws:PrincipalType") == "Anonymous"


def test_supplied_keys_override_derived_ones_and_fix_the_time():
    when = datetime(2020, 1, 1, tzinfo=timezone.utc)
    ctx = RequestContext(Principal.user(ACCOUNT, "alice"), "ecr:PutImage", REPO,
                         keys={"aws:username": "override", "aws:CurrentTime": when})
    assert ctx.get("aws:username") == "override"
    assert ctx.get("aws:EpochTime") == 1577836800


def test_values_and_variables():
    ctx = RequestContext(Principal.user(ACCOUNT, "alice"), "ecr:PutImage", REPO,
                         keys={"aws:TagKeys": ("a", "b"), "my:empty": [], "my:flag": True,
                               "my:none": None})
    assert ctx.values("aws:TagKeys") == ["a", "b"]
    assert ctx.values("my:empty") is None and ctx.values("my:none") is None
    assert ctx.values("my:flag") == [True]
    assert ctx.variable("my:flag") == "true"
    assert ctx.variable("aws:TagKeys") is None
    assert ctx.variable("aws:username") == "alice"


def test_resource_account_for_resources_without_one():
    ctx = RequestContext(Principal.user(ACCOUNT, "alice"), "ecr:GetAuthorizationToken", "*")
    assert ctx.resource_account is None
    explicit = RequestContext(Principal.user(ACCOUNT, "a"), "s3:GetObject", "arn:aws:s3:::b/k",
                              resource_account="444455556666")
    assert explicit.resource_account == "444455556666"


def test_action_must_name_a_service():
    with pytest.raises(ValueError):
        RequestContext(Principal.user(ACCOUNT, "a"), "BatchGetImage", REPO)
