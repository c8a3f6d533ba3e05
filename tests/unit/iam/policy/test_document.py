"""Parsing and validating policy documents; every rejection names the place at fault."""
import json

import pytest

from berth.iam.policy import Effect, PolicyError, parse_policy

from .builders import identity, resource

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def error(document, kind="identity") -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(document, kind=kind)
    return info.value


def test_parses_an_identity_policy_into_dataclasses():
    policy = identity("""{
        "Version": "2012-10-17",
        "Id": "pull-only",
        "Statement": [{
            "Sid": "Pull",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/team-a/*"
        }]
    }""", name="pull")
    assert policy.version == "2012-10-17" and policy.id == "pull-only" and policy.name == "pull"
    assert policy.kind == "identity" and policy.variables_enabled
    (statement,) = policy.statements
    assert statement.sid == "Pull" and statement.effect is Effect.ALLOW
    assert statement.actions == ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    assert statement.resources == ("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*",)
    assert statement.not_actions is None and statement.principal is None


def test_a_single_statement_object_is_accepted():
    policy = identity({"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotAction":
                       "iam:*", "NotResource": "*"}})
    (statement,) = policy.statements
    assert statement.effect is Effect.DENY
    assert statement.not_actions == ("iam:*",) and statement.not_resources == ("*",)


def test_json_bytes_are_accepted():
    policy = identity(json.dumps({"Statement": [ALLOW_ALL]}).encode())
    assert policy.version is None and not policy.variables_enabled


@pytest.mark.parametrize("version", ["2012-10-17", "2008-10-17"])
def test_both_language_versions_are_accepted(version):
    assert identity({"Version": version, "Statement": [ALLOW_ALL]}).version == version
    assert identity({"Version": version, "Statement": [ALLOW_ALL]}).variables_enabled is (
        version == "2012-10-17")


def test_unknown_version_is_rejected():
    e = error({"Version": "2012-10-18", "Statement": [ALLOW_ALL]})
    assert e.path == "Version"
    assert str(e) == "Version: must be one of '2012-10-17', '2008-10-17', got '2012-10-18'"


def test_a_date_that_is_not_a_string_is_rejected_as_a_version():
    assert error({"Version": 2012, "Statement": [ALLOW_ALL]}).path == "Version"


def test_malformed_json_says_where():
    e = error('{"Version": "2012-10-17",\n "Statement": [ {"Effect": "Allow",, } ]}')
    assert "not valid JSON" in str(e) and "line 2" in str(e)


def test_duplicate_json_keys_are_rejected():
    e = error('{"Statement": {"Effect": "Allow", "Action": "*", "Action": "ecr:*", '
              '"Resource": "*"}}')
    assert "'Action' twice" in str(e)


@pytest.mark.parametrize("document", ['["Statement"]', '"text"', "42"])
def test_the_document_must_be_an_object(document):
    assert "must be a JSON object" in str(error(document))


def test_unknown_top_level_key_is_named():
    e = error({"Version": "2012-10-17", "Statement": [ALLOW_ALL], "Statment": []})
    assert e.path == "Statment" and "unknown policy element 'Statment'" in str(e)


def test_element_names_are_case_sensitive_with_a_hint():
    e = error({"version": "2012-10-17", "Statement": [ALLOW_ALL]})
    assert str(e).startswith("version: unknown policy element 'version'")
    assert "'Version'" in str(e)


def test_statement_is_required_and_not_empty():
    assert str(error({"Version": "2012-10-17"})) == "Statement: is required"
    assert str(error({"Statement": []})) == "Statement: must contain at least one statement"
    assert str(error({"Statement": "Allow"})) == "Statement: must be an object or a list of objects"


def test_each_statement_must_be_an_object():
    assert str(error({"Statement": [ALLOW_ALL, "Deny"]})) == "Statement[1]: must be an object"


def test_id_must_be_a_string():
    assert error({"Id": 7, "Statement": [ALLOW_ALL]}).path == "Id"


def test_missing_effect():
    e = error({"Statement": [ALLOW_ALL, {"Action": "*", "Resource": "*"}]})
    assert str(e) == "Statement[1].Effect: is required"


@pytest.mark.parametrize("effect", ["allow", "Permit", "", None])
def test_effect_must_be_allow_or_deny(effect):
    e = error({"Statement": [{"Effect": effect, "Action": "*", "Resource": "*"}]})
    assert e.path == "Statement[0].Effect"
    assert f"must be 'Allow' or 'Deny', got {effect!r}" in str(e)


def test_single_statement_paths_have_no_index():
    e = error({"Statement": {"Effect": "Allow", "Resource": "*"}})
    assert str(e) == "Statement: needs Action or NotAction"


def test_action_and_not_action_together():
    e = error({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "iam:*",
                              "Resource": "*"}]})
    assert str(e) == "Statement[0]: has both Action and NotAction; use one"


def test_neither_action_nor_not_action():
    e = error({"Statement": [{"Effect": "Allow", "Resource": "*"}]})
    assert str(e) == "Statement[0]: needs Action or NotAction"


def test_action_without_service_prefix():
    # The IAM guide's DynamoDB set-operator example writes "GetItem"; IAM itself wants a prefix.
    e = error({"Statement": [{"Effect": "Allow", "Action": ["dynamodb:Query", "GetItem"],
                              "Resource": "*"}]})
    assert str(e) == ("Statement[0].Action[1]: action 'GetItem' must be '*' or "
                      "'service:ActionName'")


@pytest.mark.parametrize("actions", [[], ["ecr:*", 3], 5, {"ecr": "*"}])
def test_action_must_be_a_string_or_list_of_strings(actions):
    e = error({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    assert e.path.startswith("Statement[0].Action")
    assert "must be a string" in str(e)


def test_identity_statements_need_a_resource():
    e = error({"Statement": [{"Effect": "Allow", "Action": "ecr:*"}]})
    assert str(e) == "Statement[0]: needs Resource or NotResource"


def test_resource_and_not_resource_together():
    e = error({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                              "NotResource": "*"}]})
    assert str(e) == "Statement[0]: has both Resource and NotResource; use one"


def test_resource_must_be_an_arn_or_star():
    e = error({"Statement": [{"Effect": "Allow", "Action": "*",
                              "Resource": ["*", "vpc-1a2b3c4d"]}]})
    assert str(e) == "Statement[0].Resource[1]: resource 'vpc-1a2b3c4d' must be '*' or an ARN"


def test_principal_is_not_allowed_in_an_identity_policy():
    # The ECR guide's "IAM policy" example keeps its Principal; IAM refuses that document.
    e = error({"Version": "2012-10-17", "Statement": [{
        "Sid": "ECR Repository Policy", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/username"},
        "Action": ["ecr:DescribeImages", "ecr:DescribeRepositories"],
        "Resource": ["arn:aws:ecr:us-east-1:123456789012:repository/repository-name"]}]})
    assert str(e) == "Statement[0].Principal: is not allowed in an identity-based policy"


def test_principal_in_identity_policy_message():
    e = error({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                              "Resource": "*"}]})
    assert str(e) == "Statement[0].Principal: is not allowed in an identity-based policy"
    e = error({"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"},
                              "Action": "*", "Resource": "*"}]})
    assert str(e) == "Statement[0].NotPrincipal: is not allowed in an identity-based policy"


def test_resource_policies_need_a_principal():
    e = error({"Statement": [{"Effect": "Allow", "Action": "ecr:*"}]}, kind="resource")
    assert str(e) == ("Statement[0]: needs a Principal or NotPrincipal in a resource-based "
                      "policy")


def test_resource_policies_may_leave_out_the_resource():
    policy = resource({"Version": "2008-10-17", "Statement": [{
        "Sid": "new policy", "Effect": "Allow", "Principal": {"AWS": ["123456789012"]},
        "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]}]})
    (statement,) = policy.statements
    assert statement.resources is None and statement.not_resources is None
    assert statement.principal.values("AWS") == ("123456789012",)
    assert statement.sid == "new policy"  # resource policies allow spaces in Sids


def test_principal_and_not_principal_together():
    e = error({"Statement": [{"Effect": "Deny", "Principal": "*", "NotPrincipal":
                              {"AWS": "123456789012"}, "Action": "*"}]}, kind="resource")
    assert str(e) == "Statement[0]: has both Principal and NotPrincipal; use one"


def test_principal_forms():
    policy = resource({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ["123456789012",
                                                  "arn:aws:iam::111122223333:root",
                                                  "arn:aws:iam::111122223333:user/bob",
                                                  "AIDACKCEVSQ6C2EXAMPLE"],
                                          "Service": "codebuild.amazonaws.com"},
         "Action": "*"},
    ]})
    assert policy.statements[0].principal.everyone
    assert policy.statements[1].principal.values("AWS") == ("*",)
    assert policy.statements[2].principal.entries[-1] == ("Service", "codebuild.amazonaws.com")


@pytest.mark.parametrize("principal", ["123456789012", "arn:aws:iam::123456789012:root", []])
def test_principal_must_be_star_or_an_object(principal):
    e = error({"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "*"}]},
              kind="resource")
    assert e.path == "Statement[0].Principal"


def test_empty_principal_object():
    e = error({"Statement": [{"Effect": "Allow", "Principal": {}, "Action": "*"}]},
              kind="resource")
    assert str(e) == "Statement[0].Principal: must name at least one principal"


def test_principal_type_is_case_sensitive():
    e = error({"Statement": [{"Effect": "Allow", "Principal": {"aws": "*"}, "Action": "*"}]},
              kind="resource")
    assert e.path == "Statement[0].Principal.aws" and "'AWS'" in str(e)


def test_principal_cannot_use_partial_wildcards():
    e = error({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": {"AWS": [
        "123456789012", "arn:aws:iam::123456789012:user/*"]}}]}, kind="resource")
    assert e.path == "Statement[0].Principal.AWS[1]" and "wildcards" in str(e)


@pytest.mark.parametrize("value", ["bob", "12345", "arn:aws:s3:::bucket", ""])
def test_aws_principal_must_be_an_account_or_iam_arn(value):
    e = error({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": {"AWS": value}}]},
              kind="resource")
    assert e.path == "Statement[0].Principal.AWS"


def test_unknown_statement_element():
    e = error({"Statement": [{**ALLOW_ALL, "Condtion": {}}]})
    assert e.path == "Statement[0].Condtion" and "unknown statement element" in str(e)
    e = error({"Statement": [{"effect": "Allow", "Action": "*", "Resource": "*"}]})
    assert "case-sensitive: 'Effect'" in str(e)


def test_sids_in_identity_policies_are_alphanumeric_and_unique():
    e = error({"Statement": [{**ALLOW_ALL, "Sid": "Allow all"}]})
    assert e.path == "Statement[0].Sid" and "letters and digits" in str(e)
    e = error({"Statement": [{**ALLOW_ALL, "Sid": "A"}, {**ALLOW_ALL, "Sid": "B"},
                             {**ALLOW_ALL, "Sid": "A"}]})
    assert str(e) == "Statement[2].Sid: duplicate Sid 'A' (also used by Statement[0])"
    assert error({"Statement": [{**ALLOW_ALL, "Sid": 1}]}).path == "Statement[0].Sid"


def test_condition_must_be_an_object():
    e = error({"Statement": [{**ALLOW_ALL, "Condition": ["StringEquals"]}]})
    assert e.path == "Statement[0].Condition"


def test_unknown_condition_operator():
    e = error({"Statement": [ALLOW_ALL, {**ALLOW_ALL, "Condition": {
        "StringEqualz": {"aws:username": "bob"}}}]})
    assert str(e) == "Statement[1].Condition.StringEqualz: unknown condition operator 'StringEqualz'"


def test_unknown_set_operator():
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {
        "ForSomeValues:StringLike": {"aws:TagKeys": "a*"}}}]})
    assert e.path == "Statement[0].Condition.ForSomeValues:StringLike"
    assert "unknown set operator 'ForSomeValues'" in str(e)


def test_null_cannot_take_if_exists():
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {"NullIfExists": {"aws:x": "true"}}}]})
    assert e.path == "Statement[0].Condition.NullIfExists" and "Null" in str(e)


def test_operator_block_must_map_keys_to_values():
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {"StringEquals": "bob"}}]})
    assert e.path == "Statement[0].Condition.StringEquals"
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {"StringEquals": {}}}]})
    assert str(e) == "Statement[0].Condition.StringEquals: must name at least one condition key"


@pytest.mark.parametrize("value,path", [
    ({"name": "bob"}, "Statement[1].Condition.StringEquals.aws:username"),
    (None, "Statement[1].Condition.StringEquals.aws:username"),
    ([], "Statement[1].Condition.StringEquals.aws:username"),
    (["bob", None], "Statement[1].Condition.StringEquals.aws:username[1]"),
    (["bob", ["alice"]], "Statement[1].Condition.StringEquals.aws:username[1]"),
])
def test_condition_values_must_be_strings_or_lists_of_strings(value, path):
    e = error({"Statement": [ALLOW_ALL, {**ALLOW_ALL, "Condition": {
        "StringEquals": {"aws:username": value}}}]})
    assert e.path == path
    assert str(e).startswith(f"{path}: value must be a string")


@pytest.mark.parametrize("operator,value,reason", [
    ("NumericLessThanEquals", "ten", "'ten' is not a number"),
    ("NumericEquals", "NaN", "not a finite number"),
    ("NumericEquals", "${aws:EpochTime}", "is not a number"),  # no variables in numbers
    ("DateGreaterThan", "last tuesday", "not an ISO 8601 date/time"),
    ("DateLessThan", "2020-13-01T00:00:00Z", "not an ISO 8601 date/time"),
    ("IpAddress", "54.240.143.*", "not an IP address or CIDR range"),
    ("NotIpAddress", "10.0.0.0/33", "not an IP address or CIDR range"),
    ("Bool", "yes", "is not 'true' or 'false'"),
    ("Null", "maybe", "is not 'true' or 'false'"),
    ("BinaryEquals", "not base64!", "is not base64"),
])
def test_condition_values_are_checked_for_their_operator(operator, value, reason):
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {operator: {"aws:key": value}}}]})
    assert e.path == f"Statement[0].Condition.{operator}.aws:key"
    assert f"invalid value for {operator}" in str(e) and reason in str(e)


def test_a_bad_value_in_a_list_is_pointed_at():
    e = error({"Statement": [{**ALLOW_ALL, "Condition": {"IpAddress": {"aws:SourceIp": [
        "203.0.113.0/24", "2001:DB8:1234:5678::/64", "300.1.1.1"]}}}]})
    assert e.path == "Statement[0].Condition.IpAddress.aws:SourceIp[2]"


def test_operator_names_are_read_case_insensitively():
    policy = identity({"Statement": [{**ALLOW_ALL, "Condition": {
        "stringequals": {"aws:username": "bob"},
        "forallvalues:stringlikeifexists": {"aws:TagKeys": ["team-*"]},
    }}]})
    first, second = policy.statements[0].conditions
    assert first.operator.name == "StringEquals"
    assert second.operator.name == "ForAllValues:StringLikeIfExists"
    assert second.operator.qualifier == "ForAllValues" and second.operator.if_exists
    assert second.operator.base == "StringLike"


def test_json_booleans_and_numbers_become_condition_strings():
    policy = identity({"Statement": [{**ALLOW_ALL, "Condition": {
        "Bool": {"aws:SecureTransport": False},
        "NumericLessThanEquals": {"s3:max-keys": 10},
        "NumericGreaterThan": {"s3:x": 1.5},
    }}]})
    assert [c.values for c in policy.statements[0].conditions] == [("false",), ("10",), ("1.5",)]


def test_bool_may_hold_a_policy_variable_under_2012_10_17():
    identity({"Version": "2012-10-17", "Statement": [{**ALLOW_ALL, "Condition": {
        "Bool": {"aws:SecureTransport": "${aws:ViaAWSService}"}}}]})
    e = error({"Version": "2008-10-17", "Statement": [{**ALLOW_ALL, "Condition": {
        "Bool": {"aws:SecureTransport": "${aws:ViaAWSService}"}}}]})
    assert e.path == "Statement[0].Condition.Bool.aws:SecureTransport"


def test_kind_must_be_identity_or_resource():
    with pytest.raises(ValueError):
        parse_policy({"Statement": [ALLOW_ALL]}, kind="session")


def test_policy_error_is_a_value_error_with_path_and_detail():
    e = error({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]})
    assert isinstance(e, ValueError)
    assert e.path == "Statement[0].Effect" and e.detail == "must be 'Allow' or 'Deny', got 'Maybe'"
