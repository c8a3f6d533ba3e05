"""Requests botocore signs verify, whatever the path, query, headers and payload look like."""
from __future__ import annotations

import hashlib
from datetime import timezone

import pytest
from starlette.datastructures import Headers

from .signing import AKID, IDENTITY, NOW, REGION, ecr, minutes, presign, sign


def test_an_ecr_call_verifies_and_reports_who_signed_it():
    verified = ecr("DescribeRepositories", b'{"maxResults": 5}').verify()
    assert verified.access_key_id == AKID
    assert verified.identity == IDENTITY
    assert verified.region == REGION
    assert verified.service == "ecr"
    assert verified.signed_at == NOW
    assert verified.presigned is False
    assert verified.payload_signed is True
    assert verified.security_token is None
    assert verified.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-target")


def test_the_region_comes_from_the_credential_scope():
    request = ecr(region="eu-central-1", url="https://api.ecr.eu-central-1.amazonaws.com/")
    assert request.verify().region == "eu-central-1"
    assert request.verify(allowed_regions={"eu-central-1", "us-east-1"}).region == "eu-central-1"
    assert request.verify(allowed_regions=lambda r: r.startswith("eu-")).region == "eu-central-1"


def test_another_service_name_can_be_expected():
    assert sign(service="sts").verify(service="sts").service == "sts"


@pytest.mark.parametrize("path", [
    "/", "/v2/team-a/web/manifests/latest", "/a%20b/c%2Fd", "/%E2%82%AC/%7Euser",
    "/with~tilde/and-dash_underscore.dot", "/a/./b/../c", "//double//slashes//",
    "/trailing/", "/%25already%2520encoded", "/sub-delims/!$&'()*+,=:@", "/%ff%fe-raw-bytes",
])
def test_paths_with_odd_characters(path):
    request = ecr(url="https://api.ecr.us-east-1.amazonaws.com" + path)
    assert request.path == path.encode()
    request.verify()


@pytest.mark.parametrize("query", [
    "a=1&a=2&a=0", "b=2&a=1&c", "key=with%20space&key=with+plus%2B", "empty=&=novalue",
    "x=%E2%82%AC&x=%2F%3F%23%26%3D", "Action=List&Version=2015-09-21&Filter.1.Name=a%2Ab",
])
def test_query_strings_already_in_the_url(query):
    sign(url=f"https://api.ecr.us-east-1.amazonaws.com/?{query}").verify()


@pytest.mark.parametrize("params", [
    [("a", "2"), ("a", "1"), ("b", "")],
    [("key", "space and + plus"), ("key", "slash/question?hash#")],
    [("unicode", "\u20ac\u00e9"), ("tilde~", "star*paren()")],
    {"z": "last", "A": "upper first", "_": "underscore"},
])
def test_query_parameters_botocore_encodes_itself(params):
    request = sign(method="GET", body=b"", params=params)
    assert request.query  # sent form-encoded, signed percent-encoded
    request.verify()


def test_unsigned_payload_is_accepted_and_flagged_where_allowed():
    request = ecr(unsigned_payload=True)
    assert request.header("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD"
    verified = request.replace(body=b'{"anything": "goes"}').verify(allow_unsigned_payload=True)
    assert verified.payload_signed is False


def test_the_signature_and_how_long_it_passes_are_reported():
    request = ecr()
    verified = request.verify()
    assert f"Signature={verified.signature}" in request.header("Authorization")
    assert verified.valid_until == NOW + minutes(5)
    assert request.verify(now=NOW + minutes(5)).valid_until == NOW + minutes(5)
    assert request.verify(max_skew=minutes(1), now=NOW).valid_until == NOW + minutes(1)


def test_a_presigned_url_passes_until_it_expires():
    verified = presign(expires=900).verify(now=NOW + minutes(14))
    assert verified.valid_until == NOW + minutes(15)


def test_a_content_sha256_header_matching_the_body_is_accepted():
    body = b'{"repositoryName": "web"}'
    request = ecr(body=body, headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()})
    assert request.verify().payload_signed is True


def test_a_streamed_body_is_verified_by_its_digest():
    request = ecr(body=b'{"big": "body"}')
    digest = hashlib.sha256(request.body).hexdigest()
    request.verify(body_sha256=digest)
    request.verify(body_sha256=digest.upper())


def test_the_date_header_can_stand_in_for_x_amz_date():
    request = ecr(date_header=True)
    assert request.header("X-Amz-Date") is None
    assert request.header("Date") == "Sun, 22 Nov 2026 12:00:00 -0000"  # naive: UTC
    assert request.verify().signed_at == NOW


def test_a_session_token_is_signed_and_reported():
    request = ecr(token="FQoGZXIvYXdzEXAMPLETOKEN")
    assert "x-amz-security-token" in request.verify().signed_headers
    assert request.verify().security_token == "FQoGZXIvYXdzEXAMPLETOKEN"


def test_a_presigned_url_verifies():
    request = presign(params={"Action": "GetAuthorizationToken"}, expires=900,
                      token="SESSIONTOKEN")
    verified = request.verify(now=NOW + minutes(14))
    assert verified.presigned is True
    assert verified.signed_headers == ("host",)
    assert verified.security_token == "SESSIONTOKEN"


def test_a_presigned_put_with_signed_headers_verifies():
    request = presign("PUT", "https://api.ecr.us-east-1.amazonaws.com/upload?part=1",
                      headers={"Content-Type": "application/octet-stream"})
    assert request.verify().signed_headers == ("content-type", "host")


def test_header_values_are_trimmed_and_repeated_lines_joined():
    sign(headers={"X-Custom": "  spaced    out\tvalue  "}).verify()
    multi = sign(lines=[("X-Multi", "one"), ("X-Multi", "two  three")])
    assert [v for k, v in multi.headers if k == "X-Multi"] == ["one", "two  three"]
    multi.verify()


def test_header_containers_of_every_shape_are_read():
    request = ecr()
    as_bytes = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
    request.replace(headers=as_bytes).verify()                   # ASGI scope["headers"]
    request.replace(headers=Headers(raw=as_bytes)).verify()     # Starlette
    request.replace(headers=dict(request.headers)).verify()     # plain dict
    request.replace(headers=[(k.upper(), v) for k, v in request.headers]).verify()


def test_path_and_query_may_be_text():
    request = sign(url="https://api.ecr.us-east-1.amazonaws.com/a%20b?x=1&y=%2F")
    request.replace(path=request.path.decode(), query=request.query.decode()).verify()


def test_a_non_default_port_is_part_of_the_signed_host():
    request = ecr(url="http://localhost:5000/")
    assert request.header("Host") == "localhost:5000"
    request.verify()


def test_now_may_be_naive_utc():
    ecr().verify(now=NOW.astimezone(timezone.utc).replace(tzinfo=None))
