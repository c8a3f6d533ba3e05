"""Whatever arrives, verification ends in a VerifiedRequest or one of the modelled errors."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from berth.iam.sigv4 import SigV4Error, verify_request

from .signing import AKID, NOW, ecr, lookup, presign

_BASE = ecr()
_PRESIGNED = presign()
_KNOWN_CODES = {"MissingAuthenticationTokenException", "IncompleteSignatureException",
                "InvalidSignatureException", "UnrecognizedClientException"}

_pieces = st.sampled_from([
    "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "AWS4-", " ", ",", ", ", "=", "/", ";", "\t",
    "Credential=", "SignedHeaders=", "Signature=", f"{AKID}/20261122/us-east-1/ecr/aws4_request",
    "20261122", "us-east-1", "ecr", "aws4_request", "host", "x-amz-date", "content-type",
    "x-amz-target", "0" * 64, "\u00e9", "\udcff", "\x00", "\u2028", "\x85"])
_authorization = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(_pieces, st.text(max_size=6)), max_size=30).map("".join),
    st.binary(max_size=200),
)


def _refused_properly(request, **options):
    try:
        request.verify(**options)
    except SigV4Error as error:
        assert error.code in _KNOWN_CODES
        assert error.http_status == 400
        error.message.encode("utf-8")  # sendable as it stands
        return error
    return None


@settings(max_examples=1500, deadline=None)
@given(authorization=_authorization)
def test_any_authorization_header(authorization):
    headers = tuple((k, v) for k, v in _BASE.headers if k != "Authorization")
    request = _BASE.replace(headers=headers + (("Authorization", authorization),))
    assert _refused_properly(request) is not None


@settings(max_examples=500, deadline=None)
@given(date=st.one_of(st.text(max_size=30), st.from_regex(r"[0-9]{8}T[0-9]{6}Z", fullmatch=True)),
       which=st.sampled_from(["X-Amz-Date", "Date"]))
def test_any_date(date, which):
    request = _BASE.without_header("X-Amz-Date").with_header(which, date)
    assert _refused_properly(request) is not None


_query_piece = st.sampled_from([
    "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm", "X-Amz-Credential=",
    f"X-Amz-Credential={AKID}%2F20261122%2Fus-east-1%2Fecr%2Faws4_request",
    "X-Amz-Date=20261122T120000Z", "X-Amz-Expires=", "X-Amz-Expires=-1", "X-Amz-Expires=99",
    "X-Amz-SignedHeaders=host", "X-Amz-Signature=" + "0" * 64, "X-Amz-Security-Token=t",
    "&", "=", "%", "%zz", "%ff", "+", "a=b"])


@settings(max_examples=1000, deadline=None)
@given(query=st.one_of(st.binary(max_size=120),
                       st.lists(st.one_of(_query_piece, st.text(max_size=5)), max_size=20)
                       .map(lambda parts: "&".join(parts).encode("utf-8", "surrogatepass"))))
def test_any_query_string(query):
    request = _PRESIGNED.replace(query=query)
    assert _refused_properly(request) is not None


@settings(max_examples=500, deadline=None)
@given(method=st.text(max_size=8), path=st.one_of(st.binary(max_size=40), st.text(max_size=40)),
       query=st.binary(max_size=40),
       headers=st.lists(st.tuples(st.one_of(st.text(max_size=20), st.binary(max_size=20)),
                                  st.one_of(st.text(max_size=60), st.binary(max_size=60))),
                        max_size=8),
       body=st.binary(max_size=40))
def test_any_request(method, path, query, headers, body):
    try:
        verify_request(method, path, query, headers, body=body, lookup_secret=lookup, now=NOW)
    except SigV4Error as error:
        assert error.code in _KNOWN_CODES
        error.message.encode("utf-8")
    else:
        raise AssertionError("a random request verified")


@settings(max_examples=300, deadline=None)
@given(signature=st.text(max_size=80))
def test_any_signature_value_on_an_otherwise_valid_request(signature):
    header = _BASE.header("Authorization").rsplit("Signature=", 1)[0] + "Signature=" + signature
    request = _BASE.with_header("Authorization", header)
    error = _refused_properly(request)
    assert error is not None and error.code in {"InvalidSignatureException",
                                                "IncompleteSignatureException"}
