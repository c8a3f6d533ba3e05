"""Every part a signature covers, changed after signing, is refused with the right error."""
from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest

from .signing import TARGET, ecr, presign, sign

MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.")


def _auth(request, old, new):
    value = request.header("Authorization")
    assert old in value
    return request.with_header("Authorization", value.replace(old, new, 1))


def _query(request, old, new):
    assert old in request.query
    return request.replace(query=request.query.replace(old, new, 1))


def _flip_last(text):
    return text[:-1] + ("0" if text[-1] != "0" else "1")


HEADER_FORM_TAMPERING = {
    "method": lambda r: r.replace(method="PUT"),
    "path": lambda r: r.replace(path=b"/other"),
    "path segment encoding": lambda r: r.replace(path=r.path.replace(b"%20", b"+")),
    "query value": lambda r: _query(r, b"a=1", b"a=2"),
    "query parameter added": lambda r: r.replace(query=r.query + b"&extra=1"),
    "query parameter dropped": lambda r: r.replace(query=r.query.replace(b"&b=2", b"")),
    "query value encoding": lambda r: _query(r, b"c=x%2By", b"c=x+y"),
    "operation header": lambda r: r.with_header("X-Amz-Target", TARGET + "DeleteRepository"),
    "content type header": lambda r: r.with_header("Content-Type", "application/json"),
    "host header": lambda r: r.with_header("Host", "evil.example.com"),
    "signed header removed": lambda r: r.without_header("Content-Type"),
    "signed header repeated": lambda r: r.replace(
        headers=r.headers + (("X-Amz-Target", TARGET + "DeleteRepository"),)),
    "body": lambda r: r.replace(body=b'{"repositoryName": "other"}'),
    "timestamp": lambda r: r.with_header("X-Amz-Date", "20261122T120001Z"),
    "region in scope": lambda r: _auth(r, "/us-east-1/", "/us-west-2/"),
    "signed header list": lambda r: _auth(r, "content-type;", ""),
    "signature": lambda r: r.with_header(
        "Authorization", _flip_last(r.header("Authorization"))),
    "signature in upper case": lambda r: r.with_header(
        "Authorization", "Signature=".join(
            (lambda head, sig: (head, sig.upper()))(*r.header("Authorization").split(
                "Signature=")))),
}


def _signed_call():
    return ecr("BatchGetImage", b'{"repositoryName": "web"}',
               url="https://api.ecr.us-east-1.amazonaws.com/a%20b/?a=1&b=2&c=x%2By")


@pytest.mark.parametrize("name", HEADER_FORM_TAMPERING)
def test_tampering_with_a_header_signed_request(name):
    request = _signed_call()
    request.verify()
    error = HEADER_FORM_TAMPERING[name](request).rejection()
    assert (error.code, error.message, error.http_status) == (
        "InvalidSignatureException", MISMATCH, 400)


def test_a_mismatch_keeps_the_canonical_request_for_the_logs():
    error = _signed_call().replace(method="PUT").rejection()
    assert error.canonical_request.startswith("PUT\n/a%2520b/\na=1&b=2&c=x%2By\n")
    assert error.string_to_sign.startswith(
        "AWS4-HMAC-SHA256\n20261122T120000Z\n20261122/us-east-1/ecr/aws4_request\n")
    assert error.canonical_request not in error.message


def test_a_lower_case_method_is_the_same_method():
    _signed_call().replace(method="post").verify()


def test_reordering_the_query_or_adding_unsigned_headers_changes_nothing():
    request = _signed_call()
    request.replace(query=b"c=x%2By&b=2&a=1").verify()
    request.with_header("User-Agent", "something else").with_header("X-Unsigned", "1").verify()


def test_the_wrong_secret():
    assert sign(secret="not-the-secret").rejection().message == MISMATCH


def test_an_unknown_access_key():
    error = sign(akid="AKIDUNKNOWN").rejection()
    assert (error.code, error.message, error.http_status) == (
        "UnrecognizedClientException", "The security token included in the request is invalid.",
        400)


def test_a_changed_session_token():
    request = ecr(token="TOKEN-ONE")
    request.verify()
    error = request.with_header("X-Amz-Security-Token", "TOKEN-TWO").rejection()
    assert error.message == MISMATCH


def test_a_body_that_differs_from_its_declared_digest():
    body = b'{"repositoryName": "web"}'
    request = ecr(body=body, headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()})
    request.verify()
    error = request.replace(body=b'{"repositoryName": "other"}').rejection()
    assert (error.code, error.message) == (
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.")
    streamed = request.rejection(body_sha256=hashlib.sha256(b"other").hexdigest())
    assert streamed.message == error.message


def test_a_declared_digest_changed_with_the_body():
    body = b'{"repositoryName": "web"}'
    request = ecr(body=body, headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()})
    other = b'{"repositoryName": "other"}'
    tampered = request.replace(body=other).with_header(
        "X-Amz-Content-Sha256", hashlib.sha256(other).hexdigest())
    assert tampered.rejection().message == MISMATCH


@pytest.mark.parametrize("allow", [False, True])
def test_unsigned_payload_cannot_be_claimed_after_signing(allow):
    request = ecr()
    claimed = request.with_header("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
    error = claimed.rejection(allow_unsigned_payload=allow)
    assert (error.code, error.message) == ("InvalidSignatureException", MISMATCH)


def test_unsigned_payload_is_refused_unless_allowed():
    # A JSON API hashes the body itself, as AWS does: a request signed over UNSIGNED-PAYLOAD
    # does not verify, nor does its replay with another body.
    captured = ecr("BatchDeleteImage", b'{"repositoryName": "web", "imageIds": '
                   b'[{"imageTag": "no-such-tag"}]}', unsigned_payload=True)
    captured.verify(allow_unsigned_payload=True)
    replayed = captured.replace(
        body=b'{"repositoryName": "web", "imageIds": [{"imageTag": "v2"}]}')
    replayed.verify(allow_unsigned_payload=True)  # what the flaw let through
    for request in (captured, replayed):
        error = request.rejection()
        assert (error.code, error.message) == ("InvalidSignatureException", MISMATCH)
        assert error.canonical_request.endswith(hashlib.sha256(request.body).hexdigest())


def test_the_wrong_service_in_the_scope():
    error = sign(service="s3").rejection()
    assert (error.code, error.message) == (
        "InvalidSignatureException", "Credential should be scoped to correct service: 'ecr'. ")
    tampered = _auth(ecr(), "/ecr/", "/sts/").rejection()
    assert tampered.message == error.message


def test_a_region_that_is_not_allowed():
    error = sign(region="us-west-2").rejection(allowed_regions=["us-east-1"])
    assert (error.code, error.message) == (
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'us-west-2'. ")
    assert sign(region="us-west-2").rejection(
        allowed_regions=lambda region: region == "us-east-1").message == error.message


@pytest.mark.parametrize("region", ["", "US-EAST-1", "us_east_1", "r\u00e9gion-1"])
def test_a_region_that_is_not_a_region_name(region):
    error = _auth(ecr(), "/us-east-1/", f"/{region}/").rejection()
    assert error.message == f"Credential should be scoped to a valid region, not '{region}'. "


def test_the_date_in_the_scope_must_be_the_request_date():
    error = _auth(ecr(), "/20261122/", "/20261121/").rejection()
    assert (error.code, error.message) == (
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20261121' != '20261122', from '20261122T120000Z'.")


def test_every_scope_problem_is_reported_at_once():
    error = _auth(ecr(), "20261122/us-east-1/ecr/aws4_request",
                  "20261121/Mars/sqs/aws5_request").rejection()
    assert error.message == (
        "Credential should be scoped to a valid region, not 'Mars'. "
        "Credential should be scoped to correct service: 'ecr'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not "
        "'aws5_request'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20261121' != '20261122', from '20261122T120000Z'.")


PRESIGNED_TAMPERING = {
    "expiry extended": lambda r: _query(r, b"X-Amz-Expires=300", b"X-Amz-Expires=600"),
    "signature": lambda r: r.replace(query=_flip_last(r.query.decode()).encode()),
    "parameter added": lambda r: r.replace(query=r.query + b"&registryId=123"),
    "parameter value": lambda r: _query(r, b"repositoryName=web", b"repositoryName=app"),
    "scope region": lambda r: _query(r, quote("/us-east-1/", safe="").encode(),
                                     quote("/eu-west-1/", safe="").encode()),
    "method": lambda r: r.replace(method="DELETE"),
    "path": lambda r: r.replace(path=b"/v2/"),
    "host": lambda r: r.with_header("Host", "localhost"),
    "body": lambda r: r.replace(body=b"smuggled"),
    "session token": lambda r: _query(r, b"X-Amz-Security-Token=TOKEN", b"X-Amz-Security-Token=T"),
}


@pytest.mark.parametrize("name", PRESIGNED_TAMPERING)
def test_tampering_with_a_presigned_url(name):
    request = presign(params={"repositoryName": "web"}, expires=300, token="TOKEN")
    request.verify()
    error = PRESIGNED_TAMPERING[name](request).rejection()
    assert (error.code, error.message) == ("InvalidSignatureException", MISMATCH)


def test_a_presigned_url_of_another_service():
    error = presign(service="s3").rejection()
    assert error.message == "Credential should be scoped to correct service: 'ecr'. "

