"""Condition operators, with the IAM guide's examples."""
import ipaddress
from datetime import datetime, timezone

import pytest

from berth.iam.policy import Principal

from .builders import ACCOUNT, holds

# --- String ---------------------------------------------------------------------------------


def test_string_equals_is_case_sensitive_and_ignore_case_is_not():
    # "only requests made by johndoe will match. Users named JohnDoe are denied access."
    johndoe, JohnDoe = Principal.user(ACCOUNT, "johndoe"), Principal.user(ACCOUNT, "JohnDoe")
    assert holds({"StringEquals": {"aws:username": "johndoe"}}, principal=johndoe)
    assert not holds({"StringEquals": {"aws:username": "johndoe"}}, principal=JohnDoe)
    assert holds({"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}, principal=JohnDoe)
    assert not holds({"StringNotEqualsIgnoreCase": {"aws:username": "johndoe"}},
                     principal=JohnDoe)


def test_principal_tag_example():
    condition = {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}
    assert holds(condition, {"aws:PrincipalTag/job-category": "iamuser-admin"})
    assert not holds(condition, {"aws:PrincipalTag/job-category": "developer"})
    assert not holds(condition)  # a user without the tag: the key is absent, no match


def test_several_values_for_a_key_are_ored():
    condition = {"StringEquals": {"aws:PrincipalTag/role": ["audit", "security"]}}
    assert holds(condition, {"aws:PrincipalTag/role": "audit"})
    assert holds(condition, {"aws:PrincipalTag/role": "security"})
    assert not holds(condition, {"aws:PrincipalTag/role": "dev"})


def test_negated_operators_with_several_values_are_nored():
    condition = {"StringNotEquals": {"aws:PrincipalTag/role": ["audit", "security"]}}
    assert not holds(condition, {"aws:PrincipalTag/role": "audit"})
    assert not holds(condition, {"aws:PrincipalTag/role": "security"})
    assert holds(condition, {"aws:PrincipalTag/role": "dev"})


@pytest.mark.parametrize("value,expected", [
    ("t1.micro", True), ("t2.large", True), ("m3.medium", True), ("m5.large", False),
    ("t1", False), ("xt1.micro", False),
])
def test_string_like_with_star(value, expected):
    condition = {"StringLike": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}
    assert holds(condition, {"ec2:InstanceType": value}) is expected


def test_string_like_with_question_mark():
    condition = {"StringLike": {"aws:RequestTag/state": "State:??"}}
    assert holds(condition, {"aws:RequestTag/state": "State:WA"})
    assert not holds(condition, {"aws:RequestTag/state": "State:W"})
    assert not holds(condition, {"aws:RequestTag/state": "State:WAS"})


def test_string_like_is_case_sensitive():
    assert not holds({"StringLike": {"s3:prefix": "Home/*"}}, {"s3:prefix": "home/x"})


def test_string_not_like():
    condition = {"StringNotLike": {"s3:prefix": ["home/*", "tmp/*"]}}
    assert holds(condition, {"s3:prefix": "etc/passwd"})
    assert not holds(condition, {"s3:prefix": "tmp/x"})


@pytest.mark.parametrize("operator,expected", [
    ("StringEquals", False), ("StringLike", False), ("StringEqualsIgnoreCase", False),
    ("StringNotEquals", True), ("StringNotLike", True), ("StringNotEqualsIgnoreCase", True),
    ("ArnLike", False), ("ArnNotLike", True), ("ArnEquals", False), ("ArnNotEquals", True),
    ("NumericEquals", False), ("NumericNotEquals", True), ("DateEquals", False),
    ("DateNotEquals", True), ("IpAddress", False), ("NotIpAddress", True), ("Bool", False),
    ("BinaryEquals", False),
])
def test_a_missing_key_fails_positive_operators_and_passes_negated_ones(operator, expected):
    values = {"Numeric": "1", "Date": "2020-01-01T00:00:00Z", "IpAddress": "10.0.0.0/8",
              "NotIpAddress": "10.0.0.0/8", "Bool": "true", "BinaryEquals": "QUJD"}
    value = next((v for k, v in values.items() if operator.startswith(k)), "arn:aws:s3:::x")
    assert holds({operator: {"my:absent-key": value}}) is expected


def test_condition_key_names_are_case_insensitive():
    assert holds({"IpAddress": {"aws:SourceIP": "203.0.113.0/24"}},
                 {"AWS:sourceip": "203.0.113.9"})
    assert holds({"StringEquals": {"ecr:ResourceTag/Environment": "prod"}},
                 {"ecr:resourcetag/environment": "prod"})


def test_condition_values_stay_case_sensitive():
    assert not holds({"StringEquals": {"ecr:ResourceTag/environment": "Prod"}},
                     {"ecr:ResourceTag/environment": "prod"})


def test_several_keys_and_several_operators_are_anded():
    condition = {
        "StringEquals": {"aws:PrincipalTag/department": ["finance", "hr"],
                         "aws:PrincipalTag/role": ["audit", "security"]},
        "ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::*:user/Mary-Major",
                                         "arn:aws:iam::*:user/Saanvi-Sarkar"]},
    }
    mary = Principal.user(ACCOUNT, "Mary-Major")
    tags = {"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "audit"}
    assert holds(condition, tags, principal=mary)
    assert not holds(condition, tags, principal=Principal.user(ACCOUNT, "Paulo"))
    assert not holds(condition, {**tags, "aws:PrincipalTag/role": "dev"}, principal=mary)
    assert not holds(condition, {"aws:PrincipalTag/department": "hr"}, principal=mary)


# --- ...IfExists ------------------------------------------------------------------------------

def test_if_exists_passes_when_the_key_is_missing():
    condition = {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}
    assert holds(condition)  # an image, key pair, ... has no instance type
    assert holds(condition, {"ec2:InstanceType": "t2.micro"})
    assert not holds(condition, {"ec2:InstanceType": "m5.large"})
    assert not holds({"StringLike": {"ec2:InstanceType": ["t1.*"]}})


def test_negated_if_exists_with_a_missing_key_is_still_true():
    # "If you are using an "Effect": "Deny" element with a negated condition operator like
    # StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    condition = {"StringNotEqualsIfExists": {"aws:RequestTag/team": "red"}}
    assert holds(condition)
    assert holds(condition, {"aws:RequestTag/team": "blue"})
    assert not holds(condition, {"aws:RequestTag/team": "red"})


@pytest.mark.parametrize("operator", ["NumericLessThanIfExists", "DateLessThanIfExists",
                                      "IpAddressIfExists", "ArnLikeIfExists", "BoolIfExists"])
def test_every_family_takes_if_exists(operator):
    value = {"Numeric": "5", "Date": "2030-01-01", "IpAddress": "10.0.0.0/8",
             "ArnLike": "arn:aws:iam::*:root", "Bool": "true"}
    policy_value = next(v for k, v in value.items() if operator.startswith(k))
    assert holds({operator: {"my:absent": policy_value}})


# --- Numeric --------------------------------------------------------------------------------

@pytest.mark.parametrize("max_keys,expected", [("10", True), ("9", True), ("11", False),
                                               (10, True), (10.5, False), ("ten", False)])
def test_numeric_less_than_equals_example(max_keys, expected):
    assert holds({"NumericLessThanEquals": {"s3:max-keys": "10"}},
                 {"s3:max-keys": max_keys}) is expected


@pytest.mark.parametrize("operator,request_value,expected", [
    ("NumericEquals", 5, True), ("NumericEquals", "5.0", True), ("NumericEquals", 6, False),
    ("NumericNotEquals", 6, True), ("NumericNotEquals", 5, False),
    ("NumericLessThan", 4, True), ("NumericLessThan", 5, False),
    ("NumericLessThanEquals", 5, True), ("NumericLessThanEquals", 6, False),
    ("NumericGreaterThan", 6, True), ("NumericGreaterThan", 5, False),
    ("NumericGreaterThanEquals", 5, True), ("NumericGreaterThanEquals", 4, False),
    ("NumericGreaterThan", "-1", False), ("NumericLessThan", "1e-3", True),
])
def test_numeric_operators(operator, request_value, expected):
    assert holds({operator: {"my:n": "5"}}, {"my:n": request_value}) is expected


def test_a_request_value_that_is_not_a_number_matches_no_numeric_value():
    assert not holds({"NumericEquals": {"my:n": "1"}}, {"my:n": True})
    assert holds({"NumericNotEquals": {"my:n": "1"}}, {"my:n": "one"})


# --- Date -----------------------------------------------------------------------------------

def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_date_greater_than_token_issue_time_example():
    condition = {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
    assert holds(condition, {"aws:TokenIssueTime": utc(2020, 6, 1)})
    assert not holds(condition, {"aws:TokenIssueTime": utc(2019, 12, 31, 23, 59)})
    assert not holds(condition)  # long-term access keys: no aws:TokenIssueTime


@pytest.mark.parametrize("now,expected", [
    (utc(2017, 7, 1, 0, 0, 1), True), (utc(2017, 10, 15), True), (utc(2017, 12, 31, 23, 59, 58),
                                                                   True),
    (utc(2017, 6, 30, 23, 59), False), (utc(2018, 1, 1), False), (utc(2017, 7, 1), False),
])
def test_allows_access_within_specific_dates_example(now, expected):
    condition = {"DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                 "DateLessThan": {"aws:CurrentTime": "2017-12-31T23:59:59Z"}}
    assert holds(condition, {"aws:CurrentTime": now}) is expected


def test_current_time_defaults_to_now():
    assert holds({"DateGreaterThan": {"aws:CurrentTime": "2000-01-01"}})
    assert not holds({"DateLessThan": {"aws:CurrentTime": "2000-01-01"}})
    assert holds({"NumericGreaterThan": {"aws:EpochTime": "946684800"}})


@pytest.mark.parametrize("policy_value", [
    "2020-01-01T00:00:00Z", "2020-01-01T02:00:00+02:00", "2019-12-31T19:00:00-05:00",
    "2020-01-01", "2020-01", "2020", "1577836800", "2020-01-01T00:00Z", "2020-01-01T00:00:00.000Z",
])
def test_date_formats(policy_value):
    assert holds({"DateEquals": {"aws:CurrentTime": policy_value}},
                 {"aws:CurrentTime": utc(2020, 1, 1)})
    assert not holds({"DateEquals": {"aws:CurrentTime": policy_value}},
                     {"aws:CurrentTime": utc(2020, 1, 1, 0, 0, 1)})


@pytest.mark.parametrize("request_value", [
    "2020-01-01T00:00:00Z", 1577836800, "1577836800", datetime(2020, 1, 1)])
def test_date_request_values_in_several_shapes(request_value):
    assert holds({"DateEquals": {"my:when": "2020-01-01T00:00:00Z"}}, {"my:when": request_value})


@pytest.mark.parametrize("operator,expected", [
    ("DateEquals", False), ("DateNotEquals", True), ("DateLessThan", True),
    ("DateLessThanEquals", True), ("DateGreaterThan", False), ("DateGreaterThanEquals", False),
])
def test_date_operators(operator, expected):
    assert holds({operator: {"my:when": "2021-03-04T05:06:07Z"}},
                 {"my:when": utc(2021, 3, 4, 5, 6, 6)}) is expected


def test_an_unreadable_request_date_matches_nothing():
    assert not holds({"DateLessThan": {"my:when": "2030-01-01"}}, {"my:when": "soon"})


# --- Bool -----------------------------------------------------------------------------------

@pytest.mark.parametrize("secure,expected", [(False, True), (True, False), ("false", True),
                                             ("TRUE", False), ("nope", False)])
def test_bool_secure_transport_example(secure, expected):
    assert holds({"Bool": {"aws:SecureTransport": "false"}},
                 {"aws:SecureTransport": secure}) is expected


def test_bool_accepts_a_json_boolean_in_the_policy():
    assert holds({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": True})
    assert not holds({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": False})


# --- Binary ---------------------------------------------------------------------------------

def test_binary_equals():
    condition = {"BinaryEquals": {"my:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
    assert holds(condition, {"my:blob": b"BinaryValueInBase64"})
    assert holds(condition, {"my:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="})
    assert not holds(condition, {"my:blob": b"BinaryValueInBase32"})


# --- IP address -----------------------------------------------------------------------------

@pytest.mark.parametrize("source,expected", [
    ("203.0.113.0", True), ("203.0.113.255", True), ("203.0.114.0", False),
    (ipaddress.ip_address("203.0.113.7"), True), ("not-an-ip", False), ("2001:db8::1", False),
])
def test_ip_address_example(source, expected):
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                 {"aws:SourceIp": source}) is expected


def test_mixed_ipv4_and_ipv6_ranges():
    condition = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}
    assert holds(condition, {"aws:SourceIp": "2001:db8:1234:5678::abcd"})
    assert holds(condition, {"aws:SourceIp": "203.0.113.10"})
    assert not holds(condition, {"aws:SourceIp": "2001:db8:1234:5679::1"})


def test_an_address_without_a_prefix_is_a_single_host():
    assert holds({"IpAddress": {"aws:SourceIp": "192.0.2.10"}}, {"aws:SourceIp": "192.0.2.10"})
    assert not holds({"IpAddress": {"aws:SourceIp": "192.0.2.10"}},
                     {"aws:SourceIp": "192.0.2.11"})


def test_not_ip_address_from_the_deny_outside_ranges_example():
    condition = {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}
    assert not holds(condition, {"aws:SourceIp": "192.0.2.1"})
    assert not holds(condition, {"aws:SourceIp": "203.0.113.200"})
    assert holds(condition, {"aws:SourceIp": "198.51.100.1"})
    assert holds(condition)  # through a VPC endpoint there is no aws:SourceIp


# --- ARN ------------------------------------------------------------------------------------

def test_arn_equals_sns_topic_example():
    condition = {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:TOPIC-ID"}}
    assert holds(condition, {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:TOPIC-ID"})
    assert not holds(condition, {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:OTHER"})
    assert not holds(condition)  # a user calling directly: no aws:SourceArn


def test_arn_equals_and_arn_like_behave_identically():
    for operator in ("ArnEquals", "ArnLike"):
        condition = {operator: {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin*"}}
        assert holds(condition, principal=Principal.assumed_role(ACCOUNT, "AdminOps", "s"))
        assert not holds(condition, principal=Principal.assumed_role(ACCOUNT, "Dev", "s"))


def test_arn_like_does_not_cross_segments_but_string_like_does():
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert holds({"StringLike": {"my:arn": pattern}}, {"my:arn": value})
    assert not holds({"ArnLike": {"my:arn": pattern}}, {"my:arn": value})
    assert holds({"ArnNotLike": {"my:arn": pattern}}, {"my:arn": value})


def test_arn_not_equals_principal_arn_example():
    condition = {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:user/user-name"}}
    assert not holds(condition, principal=Principal.user("444455556666", "user-name"))
    assert holds(condition, principal=Principal.user("444455556666", "other"))


# --- Null -----------------------------------------------------------------------------------

def test_null_checks_for_absence():
    must_not_be_temporary = {"Null": {"aws:TokenIssueTime": "true"}}
    assert holds(must_not_be_temporary)
    assert not holds(must_not_be_temporary, {"aws:TokenIssueTime": utc(2024, 1, 1)})
    must_be_present = {"Null": {"aws:TokenIssueTime": "false"}}
    assert holds(must_be_present, {"aws:TokenIssueTime": utc(2024, 1, 1)})
    assert not holds(must_be_present)


def test_null_with_a_json_boolean_and_an_empty_list():
    assert holds({"Null": {"aws:TagKeys": True}}, {"aws:TagKeys": []})
    assert not holds({"Null": {"aws:TagKeys": True}}, {"aws:TagKeys": ["a"]})


# --- Set operators --------------------------------------------------------------------------

ALLOWED_ATTRIBUTES = {"ForAllValues:StringLike": {
    "dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}}
FORBIDDEN_ATTRIBUTES = {"ForAnyValue:StringLike": {
    "dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}


@pytest.mark.parametrize("requested,expected", [
    (["PostDateTime", "Message"], True),
    (["PostDateTime", "UserName"], False),   # the guide's worked example
    (["Tags"], True),
    ([], True),                              # an empty set: ForAllValues is true
    (None, True),                            # no key at all: also true
])
def test_for_all_values_example(requested, expected):
    keys = {} if requested is None else {"dynamodb:requestedAttributes": requested}
    assert holds(ALLOWED_ATTRIBUTES, keys) is expected


@pytest.mark.parametrize("requested,expected", [
    (["UserName", "Message", "PostDateTime"], True),   # the guide's worked example
    (["UserName"], False),
    ([], False),
    (None, False),
])
def test_for_any_value_example(requested, expected):
    keys = {} if requested is None else {"dynamodb:requestedAttributes": requested}
    assert holds(FORBIDDEN_ATTRIBUTES, keys) is expected


@pytest.mark.parametrize("tag_keys,expected", [
    (["environment", "cost-center"], True), (["environment"], True),
    (["environment", "owner"], False), (None, True),
])
def test_for_all_values_with_tag_keys(tag_keys, expected):
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}
    keys = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert holds(condition, keys) is expected


@pytest.mark.parametrize("tag_keys,expected", [
    (["environment", "owner"], True), (["owner"], False), (None, False), ([], False),
])
def test_for_any_value_with_tag_keys(tag_keys, expected):
    condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}
    keys = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert holds(condition, keys) is expected


def test_for_all_values_with_a_non_null_guard():
    # The guide's advice: pair ForAllValues with a Null check so a missing key does not allow.
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment"]},
                 "Null": {"aws:TagKeys": "false"}}
    assert not holds(condition)
    assert holds(condition, {"aws:TagKeys": ["environment"]})


@pytest.mark.parametrize("tag_keys,for_all,for_any", [
    (None, True, False),
    (["DataClass", "Owner"], False, False),
    (["Dept", "DataClass"], False, True),
    (["Dept", "SIC"], True, True),
])
def test_negated_operators_under_set_qualifiers(tag_keys, for_all, for_any):
    keys = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    values = ["DataClass", "Owner"]
    assert holds({"ForAllValues:StringNotEquals": {"aws:TagKeys": values}}, keys) is for_all
    assert holds({"ForAnyValue:StringNotEquals": {"aws:TagKeys": values}}, keys) is for_any


def test_for_any_value_if_exists_passes_when_missing():
    assert holds({"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "team-*"}})
    assert not holds({"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "team-*"}},
                     {"aws:TagKeys": ["owner"]})


def test_a_multivalued_key_without_a_qualifier():
    # positive: some request value matches; negated: no request value matches
    keys = {"aws:TagKeys": ["environment", "owner"]}
    assert holds({"StringEquals": {"aws:TagKeys": "owner"}}, keys)
    assert not holds({"StringEquals": {"aws:TagKeys": "team"}}, keys)
    assert not holds({"StringNotEquals": {"aws:TagKeys": "owner"}}, keys)
    assert holds({"StringNotEquals": {"aws:TagKeys": "team"}}, keys)


def test_set_qualifiers_with_other_families():
    assert holds({"ForAllValues:IpAddress": {"my:ips": "10.0.0.0/8"}},
                 {"my:ips": ["10.1.1.1", "10.2.2.2"]})
    assert not holds({"ForAllValues:IpAddress": {"my:ips": "10.0.0.0/8"}},
                     {"my:ips": ["10.1.1.1", "192.168.1.1"]})
    assert holds({"ForAnyValue:ArnLike": {"my:arns": "arn:aws:iam::*:role/ci-*"}},
                 {"my:arns": ["arn:aws:iam::1:user/x", "arn:aws:iam::2:role/ci-build"]})
    assert holds({"ForAllValues:NumericLessThan": {"my:sizes": "100"}}, {"my:sizes": (1, 99)})
