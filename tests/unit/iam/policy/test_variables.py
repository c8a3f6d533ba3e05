"""Policy variables such as ${aws:username} in Resource and condition values."""
import pytest

from berth.iam.policy import Principal, PolicyError, statement_applies
from berth.iam.policy.principals import PrincipalMatch
from berth.iam.policy.variables import Escaped, Variable, parse_template

from .builders import ACCOUNT, holds, identity, request


def applies(policy, ctx) -> bool:
    return statement_applies(policy.statements[0], policy, ctx) is not PrincipalMatch.NONE


def one_statement(resource_pattern, version="2012-10-17", action="iam:GetUser"):
    document = {"Statement": [{"Effect": "Allow", "Action": action,
                               "Resource": resource_pattern}]}
    if version:
        document["Version"] = version
    return identity(document)


def test_template_parsing():
    assert parse_template("home/${aws:username}/") == (
        "home/", Variable("aws:username"), "/")
    assert parse_template("${aws:userid, 'anonymous'}") == (Variable("aws:userid", "anonymous"),)
    assert parse_template("a${*}b${?}c${$}") == ("a", Escaped("*"), "b", Escaped("?"), "c",
                                                  Escaped("$"))
    assert parse_template("${not a variable}") == ("${not a variable}",)
    assert parse_template("${aws:username}", enabled=False) == ("${aws:username}",)


def test_resource_variable_from_the_ecr_guide_view_own_user_info():
    # "Resource": ["arn:aws:iam::*:user/${aws:username}"]
    policy = one_statement("arn:aws:iam::*:user/${aws:username}")
    alice = Principal.user(ACCOUNT, "alice")
    assert applies(policy, request(alice, "iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/alice"))
    assert not applies(policy, request(alice, "iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/bob"))


def test_variables_are_literal_without_version_2012_10_17():
    alice = Principal.user(ACCOUNT, "alice")
    for version in ("2008-10-17", None):
        policy = one_statement("arn:aws:iam::*:user/${aws:username}", version)
        assert not applies(policy, request(alice, "iam:GetUser",
                                           f"arn:aws:iam::{ACCOUNT}:user/alice"))
        assert applies(policy, request(alice, "iam:GetUser",
                                       f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))


def test_s3_home_directory_example_from_the_string_like_docs():
    condition = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}
    david = Principal.user(ACCOUNT, "David")
    assert holds(condition, {"s3:prefix": "home/David/"}, principal=david)
    assert holds(condition, {"s3:prefix": ""}, principal=david)
    assert not holds(condition, {"s3:prefix": "home/Adele/"}, principal=david)


def test_an_unresolvable_variable_makes_the_statement_not_apply():
    # aws:username is not present for a role session ("not present ... causes the statement
    # to be invalid")
    session = Principal.assumed_role(ACCOUNT, "builder", "ci")
    policy = one_statement("arn:aws:iam::*:user/${aws:username}")
    assert not applies(policy, request(session, "iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/"))
    # even a negated condition: the statement is invalid, not vacuously true
    assert not holds({"StringNotEquals": {"aws:PrincipalTag/team": "${aws:username}"}},
                     {"aws:PrincipalTag/team": "x"}, principal=session)


def test_a_default_value_stands_in_for_a_missing_variable():
    session = Principal.assumed_role(ACCOUNT, "builder", "ci")
    condition = {"StringEquals": {"s3:prefix": "${aws:username, 'anonymous'}"}}
    assert holds(condition, {"s3:prefix": "anonymous"}, principal=session)
    assert holds(condition, {"s3:prefix": "bob"}, principal=Principal.user(ACCOUNT, "bob"))
    assert not holds(condition, {"s3:prefix": "anonymous"},
                     principal=Principal.user(ACCOUNT, "bob"))


def test_escaped_wildcards_are_literal():
    assert holds({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "a*b"})
    assert not holds({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "axxb"})
    assert holds({"StringLike": {"s3:prefix": "a*b"}}, {"s3:prefix": "axxb"})
    assert holds({"StringEquals": {"s3:prefix": "${$}{x}"}}, {"s3:prefix": "${x}"})


def test_substituted_values_are_never_wildcards():
    condition = {"StringLike": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"}}
    assert holds(condition, {"aws:PrincipalTag/team": "*", "aws:RequestTag/team": "*"})
    assert not holds(condition, {"aws:PrincipalTag/team": "*", "aws:RequestTag/team": "red"})
    assert holds(condition, {"aws:PrincipalTag/team": "red", "aws:RequestTag/team": "red"})


def test_principal_account_in_a_resource():
    policy = one_statement("arn:aws:ecr:us-east-1:*:repository/${aws:PrincipalAccount}/*",
                           action="ecr:*")
    me = Principal.user(ACCOUNT, "alice")
    assert applies(policy, request(me, "ecr:PutImage",
                                   f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{ACCOUNT}/web"))
    assert not applies(policy, request(me, "ecr:PutImage",
                                       f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/999/web"))


def test_variables_only_count_in_the_resource_segment_of_a_resource():
    policy = one_statement("arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/web",
                           action="ecr:*")
    ctx = request(Principal.user(ACCOUNT, "alice"), "ecr:PutImage",
                  f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/web")
    assert not applies(policy, ctx)


def test_arn_condition_with_variables_in_any_segment():
    condition = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:ResourceAccount}:role/*"}}
    session = Principal.assumed_role(ACCOUNT, "deployer", "s1")
    assert holds(condition, principal=session)  # repository lives in ACCOUNT too
    foreign = Principal.assumed_role("999999999999", "deployer", "s1")
    assert not holds(condition, principal=foreign)


def test_principal_arn_and_userid_variables():
    user = Principal.user(ACCOUNT, "alice", userid="AIDACKCEVSQ6C2EXAMPLE")
    assert holds({"StringEquals": {"s3:prefix": "${aws:userid}"}},
                 {"s3:prefix": "AIDACKCEVSQ6C2EXAMPLE"}, principal=user)
    assert holds({"ArnEquals": {"aws:SourceArn": "${aws:PrincipalArn}"}},
                 {"aws:SourceArn": user.arn}, principal=user)


def test_multivalued_keys_cannot_be_variables():
    assert not holds({"StringEquals": {"s3:prefix": "${aws:TagKeys}"}},
                     {"aws:TagKeys": ["a"], "s3:prefix": "a"})


def test_bool_condition_with_a_variable():
    condition = {"Bool": {"aws:SecureTransport": "${aws:MultiFactorAuthPresent}"}}
    assert holds(condition, {"aws:SecureTransport": True, "aws:MultiFactorAuthPresent": True})
    assert not holds(condition, {"aws:SecureTransport": False,
                                 "aws:MultiFactorAuthPresent": True})
    assert not holds(condition, {"aws:SecureTransport": True,
                                 "aws:MultiFactorAuthPresent": "perhaps"})


def test_variables_are_not_allowed_in_ip_conditions():
    with pytest.raises(PolicyError):
        identity({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "${aws:SourceIp}"}}}]})
