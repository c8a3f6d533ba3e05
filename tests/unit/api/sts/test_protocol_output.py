"""The STS query protocol's responses, checked against botocore itself: what we write, its
query parser reads back (results, errors, namespaces)."""
from __future__ import annotations

from datetime import datetime, timezone

from botocore.parsers import create_parser

from berth.api.sts import protocol
from berth.api.sts.protocol import CONTENT_TYPE, StsError, encode_error, encode_output

EXPIRES = datetime(2026, 12, 6, 17, 0, tzinfo=timezone.utc)


def parsed(operation: str, body: bytes, status: int = 200) -> dict:
    shape = protocol.service_model().operation_model(operation).output_shape
    return create_parser("query").parse(
        {"status_code": status, "headers": {}, "body": body}, shape)


# Responses: botocore's query parser reads back what we write.

def test_assume_role_result_reads_back():
    result = {"Credentials": {"AccessKeyId": "ASIAEXAMPLE0000001", "SecretAccessKey": "s/e+c=",
                              "SessionToken": "tok<&>en", "Expiration": EXPIRES},
              "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:ci-run",
                                  "Arn": "arn:aws:sts::123456789012:assumed-role/deploy/ci-run"},
              "PackedPolicySize": 6, "SourceIdentity": None}
    body = encode_output("AssumeRole", result, "req-1")
    out = parsed("AssumeRole", body)
    assert out.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert out == {key: value for key, value in result.items() if value is not None}
    assert b"<Expiration>2026-12-06T17:00:00Z</Expiration>" in body
    assert b"tok&lt;&amp;&gt;en" in body and b"SourceIdentity" not in body


def test_get_caller_identity_is_written_as_aws_writes_it():
    result = {"UserId": "AIDAEXAMPLE", "Account": "123456789012",
              "Arn": "arn:aws:iam::123456789012:user/alice"}
    body = encode_output("GetCallerIdentity", result, "8a1b")
    # The model's member order (AWS itself puts Arn first; no client cares).
    assert body == (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
        b"  <GetCallerIdentityResult>\n    <UserId>AIDAEXAMPLE</UserId>\n"
        b"    <Account>123456789012</Account>\n"
        b"    <Arn>arn:aws:iam::123456789012:user/alice</Arn>\n  </GetCallerIdentityResult>\n"
        b"  <ResponseMetadata>\n    <RequestId>8a1b</RequestId>\n  </ResponseMetadata>\n"
        b"</GetCallerIdentityResponse>\n")
    out = parsed("GetCallerIdentity", body)
    assert {k: out[k] for k in result} == result
    assert CONTENT_TYPE == "text/xml"


def test_members_named_apart_from_their_shapes_and_epoch_timestamps():
    result = {"Credentials": {"AccessKeyId": "ASIAEXAMPLE0000001", "SecretAccessKey": "s",
                              "SessionToken": "t", "Expiration": EXPIRES.timestamp() + 0.25},
              "SubjectFromWebIdentityToken": "repo:org/x:ref:refs/heads/main",
              "Provider": "token.actions.githubusercontent.com", "Audience": "sts.amazonaws.com"}
    body = encode_output("AssumeRoleWithWebIdentity", result, "r")
    assert b"<Expiration>2026-12-06T17:00:00.250Z</Expiration>" in body
    out = parsed("AssumeRoleWithWebIdentity", body)
    assert out["Provider"] == result["Provider"]
    assert out["Credentials"]["Expiration"] == datetime(2026, 12, 6, 17, 0, 0, 250000,
                                                        tzinfo=timezone.utc)


def test_naive_datetimes_are_utc():
    result = {"WebIdentityToken": "jwt", "Expiration": datetime(2026, 12, 6, 17, 0)}
    assert parsed("GetWebIdentityToken", encode_output("GetWebIdentityToken", result, "r"))[
        "Expiration"] == EXPIRES


def test_lists_and_maps_read_back():
    bundles = {"TrustBundles": [{"TrustDomain": "a.example", "Bundle": "PEM1"},
                                {"TrustDomain": "b.example", "Bundle": "PEM2"}]}
    out = parsed("GetTrustBundles", encode_output("GetTrustBundles", bundles, "r"))
    assert out["TrustBundles"] == bundles["TrustBundles"]
    empty = encode_output("GetTrustBundles", {"TrustBundles": []}, "r")
    assert b"<TrustBundles/>" in empty
    assert parsed("GetTrustBundles", empty)["TrustBundles"] == []
    context = {"TransactionContext": {"IdentityProvider": {"a": "1", "b": "2"}},
               "OriginIdentity": {"Subject": "alice"}}
    out = parsed("AssumeRoleWithSAML", encode_output(
        "AssumeRoleWithSAML", {"TrustedIdentityPropagationContext": context}, "r"))
    assert out["TrustedIdentityPropagationContext"] == context


def test_text_xml_cannot_carry_is_replaced():
    body = encode_output("GetCallerIdentity", {"UserId": "a\x00b\rc"}, "r")
    assert parsed("GetCallerIdentity", body)["UserId"] == "a\ufffdb\rc"


def test_errors_read_back():
    error = StsError("ValidationError", "1 validation error detected: Value '<x>' at 'a'")
    body = encode_error(error, "req-9")
    out = parsed("AssumeRole", body, 400)
    assert out["Error"] == {"Type": "Sender", "Code": "ValidationError",
                            "Message": error.message}
    assert out["ResponseMetadata"]["RequestId"] == "req-9"
    assert body.startswith(b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')


def test_front_end_errors_use_the_aws_fault_namespace():
    body = encode_error(StsError("InvalidAction", "Could not find operation X for version Y"), "r")
    assert body.startswith(
        b'<ErrorResponse xmlns="http://webservices.amazon.com/AWSFault/2005-15-09">')
    assert parsed("AssumeRole", body, 400)["Error"]["Code"] == "InvalidAction"


def test_receiver_errors_and_errors_without_a_message():
    out = parsed("AssumeRole", encode_error(
        StsError("ServiceUnavailable", "later", status=503, sender=False), "r"), 503)
    assert out["Error"]["Type"] == "Receiver"
    body = encode_error(StsError("MalformedInput", ""), "r")
    assert b"<Message>" not in body
    out = parsed("AssumeRole", body, 400)
    assert out["Error"]["Code"] == "MalformedInput" and not out["Error"].get("Message")
