"""The STS query protocol's requests, checked against botocore itself: what its query
serializer writes decodes back to the input; what AWS refuses is refused with its codes
(responses: test_protocol_output.py)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.awsrequest import AWSRequest
from botocore.loaders import create_loader
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.api.sts import protocol
from berth.api.sts.protocol import (StsError, decode_input, operation_name, parse_form)

ROLE_ARN = "arn:aws:iam::123456789012:role/deploy"
SESSION_PATTERN = r"[\w+=,.@-]*"
EXPIRES = datetime(2026, 12, 6, 17, 0, tzinfo=timezone.utc)


def serialized(operation: str, params: dict) -> bytes:
    """The body botocore sends for ``params``."""
    model = protocol.service_model().operation_model(operation)
    request = create_serializer("query").serialize_to_request(params, model)
    body = AWSRequest(method="POST", url="https://sts.amazonaws.com/",
                      data=request["body"]).prepare().body
    return body.encode() if isinstance(body, str) else body


def round_trip(operation: str, params: dict) -> dict:
    flat = parse_form(serialized(operation, params))
    assert operation_name(flat) == operation
    return decode_input(operation, flat)


def refusal(operation: str, **params: str) -> StsError:
    flat = {"Action": operation, "Version": "2011-06-15", **params}
    with pytest.raises(StsError) as caught:
        decode_input(operation_name(flat), flat)
    return caught.value


def accepted(**params: str) -> dict:
    """AssumeRole's decoded input for a valid form with ``params`` added."""
    return decode_input("AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "ci-run",
                                       **params})


def assume_role(**extra) -> dict:
    return {"RoleArn": ROLE_ARN, "RoleSessionName": "ci-run", **extra}


# Requests: botocore's serialization decodes back to its input.

def test_assume_role_with_every_kind_of_member_round_trips():
    params = assume_role(
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                    {"arn": "arn:aws:iam::123456789012:policy/extra"}],
        Policy='{"Version": "2012-10-17", "Statement": []}',
        DurationSeconds=3600,
        Tags=[{"Key": "team", "Value": "platform"}, {"Key": "Kostenstelle ü", "Value": ""},
              {"Key": "日本", "Value": "a+b=c:d/e@f"}],
        TransitiveTagKeys=["team", "日本"],
        ExternalId="ext-id:42/x",
        SourceIdentity="alice@example.com",
        SerialNumber="arn:aws:iam::123456789012:mfa/alice",
        TokenCode="123456",
        ProvidedContexts=[{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                           "ContextAssertion": "abcd"}])
    assert round_trip("AssumeRole", params) == params


def test_assume_role_with_web_identity_round_trips():
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "gha", "WebIdentityToken": "eyJ.a.b",
              "ProviderId": "www.amazon.com", "DurationSeconds": 900,
              "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}
    assert round_trip("AssumeRoleWithWebIdentity", params) == params


@pytest.mark.parametrize("params", [
    {}, {"DurationSeconds": 129600},
    {"DurationSeconds": 900, "SerialNumber": "GAHT12345678", "TokenCode": "000123"}])
def test_get_session_token_round_trips(params):
    assert round_trip("GetSessionToken", params) == params


def test_get_caller_identity_takes_nothing():
    assert round_trip("GetCallerIdentity", {}) == {}
    flat = parse_form("Action=GetCallerIdentity&Version=2011-06-15&Unknown=x")  # a GET's
    assert decode_input(operation_name(flat), flat) == {}


def test_nested_structures_and_lists_of_strings_round_trip():
    root = {"TargetPrincipal": "123456789012",
            "TaskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUser"}}
    assert round_trip("AssumeRoot", root) == root
    token = {"Audience": ["https://a.example", "sts.amazonaws.com"], "SigningAlgorithm": "RS256",
             "SubjectMode": "AWSIdentity", "Tags": [{"Key": "k", "Value": "v"}]}
    assert round_trip("GetWebIdentityToken", token) == token


def test_empty_lists_round_trip():
    params = assume_role(Tags=[], TransitiveTagKeys=[], PolicyArns=[])
    assert b"Tags=&" in serialized("AssumeRole", params)
    assert round_trip("AssumeRole", params) == params


def test_integers_are_read_as_java_reads_them():
    for text in ("+900", "0900", "000000000000000000000000000000900"):
        assert accepted(DurationSeconds=text)["DurationSeconds"] == 900


def test_the_model_uses_only_what_the_decoder_reads():
    """Inputs: strings, integers, structures and lists; nothing flattened or renamed, which
    neither the decoder nor the encoder handles."""
    seen: set[str] = set()

    def walk(shape, kinds):
        if shape is None or shape.name in seen:
            return
        seen.add(shape.name)
        kinds.add(shape.type_name)
        assert not shape.serialization.get("flattened"), shape.name
        children = (list(shape.members.values()) if shape.type_name == "structure" else
                    [shape.member] if shape.type_name == "list" else
                    [shape.key, shape.value] if shape.type_name == "map" else [])
        for child in children:
            assert not child.serialization.get("name"), (shape.name, child.name)
            walk(child, kinds)

    inputs: set[str] = set()
    outputs: set[str] = set()
    for name in protocol.operation_names():
        model = protocol.service_model().operation_model(name)
        walk(model.input_shape, inputs)
        seen.clear()
        walk(model.output_shape, outputs)
        seen.clear()
    assert inputs <= {"structure", "list", "string", "integer"}
    assert outputs <= {"structure", "list", "map", "string", "integer", "timestamp"}


def test_every_pattern_of_the_model_is_checked():
    shapes = create_loader().load_service_model("sts", "service-2")["shapes"].values()
    patterns = {shape["pattern"] for shape in shapes if "pattern" in shape}
    assert patterns and all(protocol.compiled_pattern(p) is not None for p in patterns)


# Refusals: what AWS answers.

def test_missing_required_members_are_named_in_model_order():
    error = refusal("AssumeRole")
    assert (error.code, error.status, error.sender) == ("ValidationError", 400, True)
    assert error.message == (
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: "
        "Member must not be null; Value null at 'roleSessionName' failed to satisfy "
        "constraint: Member must not be null")


def test_a_short_session_name():
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="a")
    assert error.message == (
        "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy "
        "constraint: Member must have length greater than or equal to 2")


def test_a_session_name_off_its_pattern():
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="bad/name")
    assert error.message == (
        "1 validation error detected: Value 'bad/name' at 'roleSessionName' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {SESSION_PATTERN}")
    # Java's \w is ASCII.
    assert "pattern" in refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ü1").message


def test_an_empty_role_arn_breaks_pattern_then_length():
    error = refusal("AssumeRole", RoleArn="", RoleSessionName="ci-run")
    arn_pattern = protocol.service_model().shape_for("arnType").metadata["pattern"]
    assert error.message == (
        "2 validation errors detected: Value '' at 'roleArn' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {arn_pattern}; Value '' at 'roleArn' "
        "failed to satisfy constraint: Member must have length greater than or equal to 20")


def test_a_supplementary_character_breaks_the_arn_pattern_and_counts_once():
    # The model's \u10000 is \u1000 and "0" to Java as to Python; AWS refuses emoji too.
    error = refusal("AssumeRole", RoleArn="😀" * 2048, RoleSessionName="ci-run")
    assert error.message.startswith("1 validation error detected")
    assert "regular expression pattern" in error.message


@pytest.mark.parametrize("duration, bound", [
    ("899", "greater than or equal to 900"), ("-2147483648", "greater than or equal to 900"),
    ("43201", "less than or equal to 43200")])
def test_durations_out_of_range(duration, bound):
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run",
                    DurationSeconds=duration)
    assert (error.code, error.message) == ("ValidationError", (
        f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
        f"satisfy constraint: Member must have value {bound}"))


@pytest.mark.parametrize("duration", ["abc", "900.0", " 900", "9_00", "٩٠٠", "2147483648",
                                      "-2147483649", "9" * 5000])
def test_durations_that_are_not_32_bit_integers_are_malformed(duration):
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run",
                    DurationSeconds=duration)
    assert (error.code, error.message, error.status) == ("MalformedInput", "", 400)


def test_an_empty_duration_is_malformed():
    error = refusal("GetSessionToken", DurationSeconds="")
    assert (error.code, error.message) == ("MalformedInput", "missing value for decimal type")


def test_tags_are_judged_member_by_member():
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run",
                    **{"Tags.member.1.Key": "ok", "Tags.member.1.Value": "bad!",
                       "Tags.member.2.Key": "only-key"})
    assert error.message == (
        "2 validation errors detected: Value 'bad!' at 'tags.1.member.value' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*"
        "; Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not "
        "be null")


def test_too_many_tags():
    tags = {f"Tags.member.{i}.{part}": f"k{i}" for i in range(1, 52) for part in ("Key", "Value")}
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run", **tags)
    assert error.message.startswith("1 validation error detected: Value '[{Key: k1, Value: k1}")
    assert error.message.endswith(
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")


def test_a_list_of_strings_is_judged_as_a_whole():
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run",
                    **{"TransitiveTagKeys.member.1": "ok", "TransitiveTagKeys.member.2": "x" * 129})
    assert error.message == (
        f"1 validation error detected: Value '[ok, {'x' * 129}]' at 'transitiveTagKeys' failed "
        "to satisfy constraint: Member must satisfy constraint: [Member must have length less "
        "than or equal to 128, Member must have length greater than or equal to 1, Member must "
        r"satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+]")


def test_enums():
    error = refusal("GetWebIdentityToken", SigningAlgorithm="RS256",
                    **{"Audience.member.1": "a", "SubjectMode": "Nobody"})
    assert error.message.endswith(
        "Value 'Nobody' at 'subjectMode' failed to satisfy constraint: Member must satisfy enum "
        "value set: [AWSIdentity, OriginIdentity]")


def test_sensitive_values_are_not_echoed():
    error = refusal("AssumeRoleWithWebIdentity", RoleArn=ROLE_ARN, RoleSessionName="ci-run",
                    WebIdentityToken="abc")
    assert error.message == (
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
        "constraint: Member must have length greater than or equal to 4")


@pytest.mark.parametrize("keys", [
    {"Tags.member.2.Key": "k", "Tags.member.2.Value": "v"},
    {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v", "Tags.member.3.Key": "k"},
    {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v", "Tags.member.99999999999.Key": "k"}])
def test_list_members_must_count_from_one_without_gaps(keys):
    error = refusal("AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="ci-run", **keys)
    assert (error.code, error.message) == (
        "MalformedInput", "Tags.member.N must count from 1 without gaps")


def test_unknown_parameters_and_list_keys_are_ignored():
    params = accepted(Bogus="1", **{
        "Tags.member.0.Key": "k", "Tags.member.x.Key": "k", "Tags.member.1": "v",
        "TransitiveTagKeys.member.1.Key": "k", "TaskPolicyArn.arn": "x"})
    assert params == assume_role()


def test_unknown_action():
    with pytest.raises(StsError) as caught:
        operation_name({"Action": "NoSuchAction", "Version": "2011-06-15"})
    assert (caught.value.code, caught.value.message) == (
        "InvalidAction", "Could not find operation NoSuchAction for version 2011-06-15")


@pytest.mark.parametrize("form, version", [
    ({"Action": "GetCallerIdentity"}, "NO_VERSION_SPECIFIED"),
    ({"Action": "GetCallerIdentity", "Version": ""}, ""),
    ({"Action": "GetCallerIdentity", "Version": "2000-01-01"}, "2000-01-01")])
def test_other_versions_have_no_operations(form, version):
    with pytest.raises(StsError) as caught:
        operation_name(form)
    assert (caught.value.code, caught.value.message) == (
        "InvalidAction", f"Could not find operation GetCallerIdentity for version {version}")


def test_missing_action():
    with pytest.raises(StsError) as caught:
        operation_name({"Version": "2011-06-15"})
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "MissingAction", "Missing Action", 400)


def test_decode_input_refuses_unknown_operations_too():
    with pytest.raises(StsError) as caught:
        decode_input("DescribeImages", {})
    assert caught.value.code == "InvalidAction"


@pytest.mark.parametrize("body, message", [
    (b"Action=GetCallerIdentity&Version", "Malformed query string: bad query field: 'Version'"),
    (b"Action=GetCallerIdentity&&Version=1", "Malformed query string: bad query field: ''"),
    (b"Action=GetCallerIdentity&RoleArn=%ff", "The query string is not valid UTF-8"),
    (b"Action=\xff", "The query string is not valid UTF-8"),
    (b"Action=GetCallerIdentity&Action=AssumeRole",
     "The parameter Action appears more than once")])
def test_malformed_bodies(body, message):
    with pytest.raises(StsError) as caught:
        parse_form(body)
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "MalformedQueryString", message, 400)


def test_forms_decode_as_forms():
    assert parse_form(b"") == {}
    assert parse_form(b"A=x+y%2Bz&B=&C=%E6%97%A5") == {"A": "x y+z", "B": "", "C": "日"}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(protocol.operation_names())),
       st.dictionaries(st.sampled_from([
           "RoleArn", "RoleSessionName", "DurationSeconds", "Tags", "Tags.member.1.Key",
           "Tags.member.1.Value", "Tags.member.2.Key", "TransitiveTagKeys.member.1",
           "PolicyArns.member.1.arn", "TaskPolicyArn.arn", "Audience.member.1",
           "SigningAlgorithm", "WebIdentityToken", "Name", "ProvidedContexts.member.1.x"]),
           st.text(max_size=12)))
def test_nothing_but_sts_errors_escape(operation, flat):
    try:
        decode_input(operation, flat)
    except StsError:
        pass
