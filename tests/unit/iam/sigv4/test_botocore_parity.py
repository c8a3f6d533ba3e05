"""Berth's canonicalization against botocore's (the client it must agree with), pinned.

The canonical module is a rebuild of botocore.auth.SigV4Auth's canonical request for non-S3
services. These tests fail when the two drift apart -- including when a botocore upgrade
changes what clients sign (the literal expectations below are botocore's own output today).
"""
from __future__ import annotations

import hashlib
import hmac
import string
from unittest import mock
from urllib.parse import quote

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.iam.sigv4 import canonical as c
from berth.iam.sigv4.parse import header_pairs, query_params

from .signing import AKID, NOW, REGION, SECRET, received

HOST = "https://api.ecr.us-east-1.amazonaws.com"


def _signed(request: AWSRequest, signer_class=SigV4Auth, token=None, **kw):
    """Signs the request; returns it with the canonical request botocore signed on the way."""
    signer = signer_class(Credentials(AKID, SECRET, token), "ecr", REGION, **kw)
    seen = []
    original = signer.canonical_request
    signer.canonical_request = lambda req: seen.append(original(req)) or seen[-1]
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        signer.add_auth(request)
    assert len(seen) == 1
    return seen[0], request


def _berth_canonicals(request: AWSRequest, presigned=False) -> list[str]:
    """Every canonical request Berth would accept for what this request puts on the wire."""
    seen = received(request)
    pairs = header_pairs(seen.headers)
    if presigned:
        params = dict(query_params(seen.query))
        signed, payload = params["X-Amz-SignedHeaders"], hashlib.sha256(seen.body).hexdigest()
    else:
        auth = seen.header("Authorization")
        signed = auth.split("SignedHeaders=")[1].split(",")[0]
        payload = seen.header("X-Amz-Content-Sha256") or hashlib.sha256(seen.body).hexdigest()
    return [c.canonical_request(seen.method, c.canonical_path(seen.path), query,
                                c.canonical_headers(pairs, signed.split(";")), signed, payload)
            for query in c.query_forms(seen.query, "X-Amz-Signature" if presigned else None)]


def test_an_ecr_call_canonicalizes_as_botocore_does():
    request = AWSRequest("POST", HOST + "/", data=b"{}", headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.ListImages",
        "Content-Type": "application/x-amz-json-1.1"})
    botocore_cr, request = _signed(request)
    expected = (
        "POST\n/\n\n"
        "content-type:application/x-amz-json-1.1\n"
        "host:api.ecr.us-east-1.amazonaws.com\n"
        "x-amz-date:20261122T120000Z\n"
        "x-amz-target:AmazonEC2ContainerRegistry_V20150921.ListImages\n\n"
        "content-type;host;x-amz-date;x-amz-target\n"
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert botocore_cr == expected
    assert _berth_canonicals(request)[0] == expected


def test_botocore_still_encodes_non_s3_paths_twice():
    request = AWSRequest("GET", HOST + "/a%2Fb/./c%20d//e~f/../g*!", data=b"")
    botocore_cr, request = _signed(request)
    path_line = botocore_cr.split("\n")[1]
    assert path_line == "/a%252Fb/c%2520d/g%2A%21"
    assert c.canonical_path(received(request).path) == path_line


def test_botocore_still_signs_params_percent_encoded_and_sends_them_form_encoded():
    request = AWSRequest("GET", HOST + "/", data=b"",
                         params=[("b", "x y+z"), ("a", "\u20ac/~"), ("a", "*")])
    botocore_cr, request = _signed(request)
    assert botocore_cr.split("\n")[2] == (
        "a=%2A&a=%E2%82%AC%2F~&b=x%20y%2Bz")
    assert received(request).query == b"b=x+y%2Bz&a=%E2%82%AC%2F~&a=%2A"
    assert _berth_canonicals(request)[0] == botocore_cr


def test_botocore_still_signs_a_query_in_the_url_as_it_stands():
    request = AWSRequest("GET", HOST + "/?z=1&a=b/c:d&a=%2a&plus=a+b", data=b"")
    botocore_cr, request = _signed(request)
    assert botocore_cr.split("\n")[2] == (
        "a=%2a&a=b/c:d&plus=a+b&z=1")
    forms = _berth_canonicals(request)
    assert forms[0].split("\n")[2] == "a=%2A&a=b%2Fc%3Ad&plus=a%20b&z=1"
    assert forms[1] == botocore_cr


def test_botocore_still_trims_and_joins_header_values():
    request = AWSRequest("POST", HOST + "/", data=b"x")
    request.headers.add_header("X-Spaces", "  a   b\t c  ")
    request.headers.add_header("X-Spaces", "second")
    botocore_cr, request = _signed(request)
    assert "x-spaces:a b c,second\n" in botocore_cr
    assert _berth_canonicals(request)[0] == botocore_cr


def test_botocore_still_signs_the_body_digest_or_the_header_standing_for_it():
    request = AWSRequest("POST", HOST + "/", data=b"body")
    request.context["payload_signing_enabled"] = False
    botocore_cr, request = _signed(request)
    assert botocore_cr.endswith("\nUNSIGNED-PAYLOAD")
    assert _berth_canonicals(request)[0] == botocore_cr


def test_a_presigned_url_canonicalizes_as_botocore_does():
    request = AWSRequest("GET", HOST + "/v2/?n=10&last=a%20b", data=b"")
    botocore_cr, request = _signed(request, SigV4QueryAuth, expires=60)
    assert botocore_cr.split("\n")[2] == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2F"
        "ecr%2Faws4_request&X-Amz-Date=20261122T120000Z&X-Amz-Expires=60&"
        "X-Amz-SignedHeaders=host&last=a%20b&n=10")
    assert _berth_canonicals(request, presigned=True)[0] == botocore_cr


# Generated requests: whatever botocore signs, Berth verifies, with the same canonical request.

_SEGMENT_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@ %/\u00e9\u20ac\U0001f600"
_segments = st.lists(st.one_of(st.text(_SEGMENT_CHARS, max_size=8), st.sampled_from([".", ".."])),
                     max_size=5)
_path = st.builds(
    lambda segs, safe, trailing: "/" + "/".join(quote(s, safe=safe) for s in segs) + trailing,
    _segments, st.sampled_from(["", "!$'()*,;=:@", "~", "+"]), st.sampled_from(["", "/"]))
_param_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
_params = st.lists(st.tuples(_param_text, _param_text), max_size=5)
_url_query = st.builds(
    lambda pairs, safe: "&".join(f"{quote(k, safe=safe)}={quote(v, safe=safe)}"
                                 for k, v in pairs),
    _params, st.sampled_from(["-_.~", "-_.~/:@!$'()*,;", ""]))
_header_name = st.from_regex(r"x-[a-z0-9]{1,6}(-[a-z0-9]{1,4})?", fullmatch=True)
_header_value = st.text(string.ascii_letters + string.digits + " \t-_.:;/,=\"'", max_size=12)
_headers = st.dictionaries(_header_name, _header_value, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]), path=_path,
       query=st.one_of(st.none(), _url_query), params=_params, headers=_headers,
       body=st.binary(max_size=64), unsigned=st.booleans(), token=st.sampled_from([None, "tok"]),
       date_header=st.booleans())
def test_generated_header_signed_requests(method, path, query, params, headers, body, unsigned,
                                          token, date_header):
    url = HOST + path + (f"?{query}" if query is not None else "")
    request = AWSRequest(method, url, data=body, headers=headers,
                         params=params if query is None else {})
    if unsigned:
        request.context["payload_signing_enabled"] = False
    if date_header:
        request.headers["Date"] = "set by the signer"
    botocore_cr, request = _signed(request, token=token)
    assert botocore_cr in _berth_canonicals(request)
    verified = received(request).verify(allow_unsigned_payload=True)
    assert verified.payload_signed is not unsigned


@settings(max_examples=150, deadline=None)
@given(path=_path, params=_params, expires=st.integers(0, 604800), token=st.sampled_from(
    [None, "tok/with+chars="]))
def test_generated_presigned_urls(path, params, expires, token):
    request = AWSRequest("GET", HOST + path, data=b"", params=params)
    botocore_cr, request = _signed(request, SigV4QueryAuth, token=token, expires=expires)
    assert _berth_canonicals(request, presigned=True)[0] == botocore_cr
    assert received(request).verify().presigned


def test_upper_case_signed_header_names_are_canonicalized_in_lower_case():
    # botocore always lowercases; for a client that declares names in another case, the
    # header lines are lowercased (SigV4's Lowercase(HeaderName)) and the declared list is
    # signed as it stands. Built by hand so that the rule is stated independently.
    request = AWSRequest("GET", HOST + "/", data=b"")
    _, request = _signed(request)
    seen = received(request)
    date = seen.header("X-Amz-Date")
    canonical = "\n".join([
        "GET", "/", "", "host:api.ecr.us-east-1.amazonaws.com", f"x-amz-date:{date}", "",
        "Host;X-Amz-Date", hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, "20261122/us-east-1/ecr/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in ("20261122", "us-east-1", "ecr", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    header = (f"AWS4-HMAC-SHA256 Credential={AKID}/20261122/us-east-1/ecr/aws4_request, "
              f"SignedHeaders=Host;X-Amz-Date, Signature={signature}")
    assert seen.with_header("Authorization", header).verify().signed_headers == (
        "host", "x-amz-date")
