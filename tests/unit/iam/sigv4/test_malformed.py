"""Missing and malformed signatures: which AWS error, with which words, in which order."""
from __future__ import annotations

import json

import pytest

from berth.iam.sigv4 import (ExpiredToken, IncompleteSignature, InvalidSignature,
                             MissingAuthenticationToken, SigV4Error, UnrecognizedClient)

from .signing import NOW, ecr, minutes, presign, sign

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecr/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=")


def _with_auth(value):
    return ecr().with_header("Authorization", value)


def _expect(error, code, message):
    assert (error.code, error.message, error.http_status) == (code, message, 400)
    assert error.body() == {"__type": code, "message": message}
    json.dumps(error.body())


def test_the_error_classes():
    table = [(MissingAuthenticationToken, "MissingAuthenticationTokenException",
              "Missing Authentication Token"),
             (IncompleteSignature, "IncompleteSignatureException", ""),
             (InvalidSignature, "InvalidSignatureException",
              "The request signature we calculated does not match the signature you provided. "
              "Check your AWS Secret Access Key and signing method. "
              "Consult the service documentation for details."),
             (UnrecognizedClient, "UnrecognizedClientException",
              "The security token included in the request is invalid."),
             (ExpiredToken, "ExpiredTokenException",
              "The security token included in the request is expired")]
    for cls, code, message in table:
        error = cls()
        assert isinstance(error, SigV4Error)
        assert (error.code, error.message, error.http_status, str(error)) == (
            code, message, 400, message)


@pytest.mark.parametrize("strip", [["Authorization"], ["Authorization", "X-Amz-Date"]])
def test_no_signature_at_all(strip):
    request = ecr()
    for name in strip:
        request = request.without_header(name)
    _expect(request.rejection(), "MissingAuthenticationTokenException",
            "Missing Authentication Token")


def test_an_empty_authorization_header_is_no_signature():
    _expect(_with_auth("   ").rejection(), "MissingAuthenticationTokenException",
            "Missing Authentication Token")


def test_both_forms_at_once():
    request = presign()
    both = request.with_header("Authorization", ecr().header("Authorization"))
    _expect(both.rejection(), "InvalidSignatureException",
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP "
            "header.")


@pytest.mark.parametrize("header, missing", [
    ("AWS4-HMAC-SHA256", ["Credential", "Signature", "SignedHeaders"]),
    ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", ["Credential"]),
    ("AWS4-HMAC-SHA256 Credential=A/B/C/D/E, SignedHeaders=host", ["Signature"]),
    ("AWS4-HMAC-SHA256 Credential=A/B/C/D/E, Signature=abc", ["SignedHeaders"]),
    ("AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
     ["Credential", "Signature", "SignedHeaders"]),
    (",,,", ["Credential", "Signature", "SignedHeaders"]),
])
def test_an_authorization_header_missing_parameters(header, missing):
    message = "".join(f"Authorization header requires '{m}' parameter. " for m in missing)
    _expect(_with_auth(header).rejection(), "IncompleteSignatureException",
            message + "Authorization=" + header)


def test_an_authorization_header_without_any_date():
    header = AUTH + "abc"
    request = _with_auth(header).without_header("X-Amz-Date")
    _expect(request.rejection(), "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header. Authorization=" + header)
    bare = _with_auth("AWS4-HMAC-SHA256").without_header("X-Amz-Date").rejection()
    assert bare.message.endswith("Authorization header requires 'SignedHeaders' parameter. "
                                 "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256")


@pytest.mark.parametrize("header, item", [
    ("Bearer eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9"),
    (AUTH.replace("Signature=", "Signature"), "Signature"),
])
def test_a_parameter_that_is_not_key_value(header, item):
    _expect(_with_auth(header).rejection(), "IncompleteSignatureException",
            f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: "
            f"'{header}'.")


def test_basic_auth_is_an_incomplete_signature():
    header = "Basic dXNlcjpwYXNzd29yZDE="
    assert _with_auth(header).rejection().message.startswith(
        "Authorization header requires 'Credential' parameter. ")


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256",
                                       "aws4-hmac-sha256"])
def test_an_unsupported_algorithm(algorithm):
    request = ecr()
    header = request.header("Authorization").replace("AWS4-HMAC-SHA256", algorithm)
    _expect(request.with_header("Authorization", header).rejection(),
            "IncompleteSignatureException",
            f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")


def test_an_unsupported_algorithm_in_a_presigned_url():
    request = presign()
    tampered = request.replace(query=request.query.replace(b"AWS4-HMAC-SHA256", b"AWS2"))
    assert tampered.rejection().message == (
        "Unsupported AWS 'algorithm': 'AWS2' (only AWS4-HMAC-SHA256 for now). ")


@pytest.mark.parametrize("credential", [
    "AKIDEXAMPLE/20261122/us-east-1/ecr", "AKIDEXAMPLE", "a/b/AKIDEXAMPLE/20261122/us-east-1/ecr",
    "AKIDEXAMPLE/20261122/us-east-1/ecr/aws4_request/",
])
def test_a_credential_without_five_parts(credential):
    request = ecr()
    header = request.header("Authorization").replace(
        "AKIDEXAMPLE/20261122/us-east-1/ecr/aws4_request", credential)
    _expect(request.with_header("Authorization", header).rejection(),
            "IncompleteSignatureException",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'")


@pytest.mark.parametrize("header, value", [
    ("X-Amz-Date", "2026-11-22T12:00:00Z"), ("X-Amz-Date", "20261122T120000"),
    ("X-Amz-Date", "20261322T120000Z"), ("X-Amz-Date", "20261122T126000Z"),
    ("X-Amz-Date", "\u0662\u0660\u0662\u0666\u0661\u0661\u0662\u0662T120000Z"),
    ("Date", "yesterday"), ("Date", "Sun, 31 Feb 2026 12:00:00 GMT"),
])
def test_a_malformed_date(header, value):
    request = ecr().without_header("X-Amz-Date").with_header(header, value)
    _expect(request.rejection(), "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601")


def test_a_malformed_date_in_a_presigned_url():
    request = presign()
    tampered = request.replace(query=request.query.replace(b"20261122T120000Z", b"now"))
    assert tampered.rejection().message.startswith("Date must be in ISO-8601 'basic format'. "
                                                   "Got 'now'.")


def test_host_must_be_signed():
    request = ecr()
    header = request.header("Authorization").replace("content-type;host;", "content-type;")
    _expect(request.with_header("Authorization", header).rejection(),
            "InvalidSignatureException",
            "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    query = presign().query.replace(b"X-Amz-SignedHeaders=host", b"X-Amz-SignedHeaders=")
    assert presign().replace(query=query).rejection().message.startswith(
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. ")
    query = presign().query.replace(b"X-Amz-SignedHeaders=host", b"X-Amz-SignedHeaders=x-a")
    assert presign().replace(query=query).rejection().message == (
        "'Host' must be a 'SignedHeader' in the AWS Authorization.")


def test_the_operation_header_must_be_signed_when_sent():
    unsigned_target = sign(headers={"Content-Type": "application/x-amz-json-1.1"}).with_header(
        "X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.BatchDeleteImage")
    _expect(unsigned_target.rejection(), "InvalidSignatureException",
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    unsigned_target.verify(must_sign_if_present=())
    sign().verify()  # not sent, not required


@pytest.mark.parametrize("drop", ["X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
                                  "X-Amz-Date"])
def test_a_presigned_url_missing_a_parameter(drop):
    request = presign()
    query = b"&".join(p for p in request.query.split(b"&")
                      if not p.startswith(drop.encode() + b"="))
    _expect(request.replace(query=query).rejection(), "IncompleteSignatureException",
            f"AWS query-string parameters must include '{drop}'. "
            "Re-examine the query-string parameters.")


def test_a_presigned_url_with_only_the_algorithm():
    _expect(ecr().without_header("Authorization").replace(query=b"X-Amz-Algorithm").rejection(),
            "IncompleteSignatureException",
            "AWS query-string parameters must include 'X-Amz-Algorithm'. "
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "AWS query-string parameters must include 'X-Amz-Signature'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters.")


@pytest.mark.parametrize("value", ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "", "abc",
                                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_an_unusable_content_sha256(value):
    error = ecr(headers={"X-Amz-Content-Sha256": value}).rejection()
    _expect(error, "IncompleteSignatureException",
            "X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body, "
            f"got '{value}'.")


def test_lookup_may_refuse_with_its_own_error():
    def expired(access_key_id):
        raise ExpiredToken()
    _expect(ecr(token="OLD").rejection(lookup_secret=expired), "ExpiredTokenException",
            "The security token included in the request is expired")


def test_lookup_is_asked_for_the_access_key_of_the_scope():
    asked = []
    error = ecr().rejection(lookup_secret=lambda key: asked.append(key))
    assert (asked, error.code) == (["AKIDEXAMPLE"], "UnrecognizedClientException")


def test_the_order_of_the_checks():
    stale_and_forged = ecr(at=NOW - minutes(10), secret="wrong")
    assert stale_and_forged.rejection().message.startswith("Signature expired")
    unknown_and_misscoped = sign(akid="NOBODY", service="s3")
    assert unknown_and_misscoped.rejection().code == "InvalidSignatureException"
    unknown_and_forged = sign(akid="NOBODY", secret="wrong")
    assert unknown_and_forged.rejection().code == "UnrecognizedClientException"
    forged_with_bad_body_hash = ecr(headers={"X-Amz-Content-Sha256": "0" * 64}, secret="wrong")
    assert forged_with_bad_body_hash.rejection().message.startswith("The request signature")


def test_body_or_digest_must_be_given_once():
    request = ecr()
    with pytest.raises(TypeError):
        request.verify(body=None)
    with pytest.raises(TypeError):
        request.verify(body=request.body, body_sha256="0" * 64)


def test_a_repeated_auth_parameter_counts_by_its_first_occurrence():
    request = presign(expires=60)
    request.verify()
    doubled = request.replace(query=request.query + b"&X-Amz-Date=20200101T000000Z")
    # The first X-Amz-Date (still current) is the one judged; the extra pair breaks the
    # signature rather than the clock.
    assert doubled.rejection().message.startswith("The request signature")


def test_undecodable_bytes_in_an_echoed_parameter_are_replaced():
    request = presign()
    query = request.query.replace(b"X-Amz-Algorithm=AWS4-HMAC-SHA256", b"X-Amz-Algorithm=%FF%FE")
    error = request.replace(query=query).rejection()
    assert error.message == (
        "Unsupported AWS 'algorithm': '\ufffd\ufffd' (only AWS4-HMAC-SHA256 for now). ")
    error.message.encode("utf-8")
