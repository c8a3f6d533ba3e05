"""Requests signed by botocore, seen the way the server receives them."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.iam.sigv4 import SigV4Error, VerifiedRequest, verify_request

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
IDENTITY = {"arn": "arn:aws:iam::123456789012:user/alice"}
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
ECR_URL = "https://api.ecr.us-east-1.amazonaws.com/"
TARGET = "AmazonEC2ContainerRegistry_V20150921."


def lookup(access_key_id: str):
    return (SECRET, IDENTITY) if access_key_id == AKID else None


@dataclasses.dataclass(frozen=True)
class Received:
    """A request as it reaches the server: raw path and query, header lines, body."""
    method: str
    path: bytes
    query: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def replace(self, **changes) -> Received:
        return dataclasses.replace(self, **changes)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def with_header(self, name: str, value: str) -> Received:
        """Replaces every line of that header with one line, or adds it."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return self.replace(headers=kept + ((name, value),))

    def without_header(self, name: str) -> Received:
        return self.replace(headers=tuple((k, v) for k, v in self.headers
                                          if k.lower() != name.lower()))

    def verify(self, **options) -> VerifiedRequest:
        options.setdefault("lookup_secret", lookup)
        options.setdefault("now", NOW)
        if "body_sha256" not in options:
            options.setdefault("body", self.body)
        return verify_request(self.method, self.path, self.query, self.headers, **options)

    def rejection(self, **options) -> SigV4Error:
        """The error verification raises; fails the test if it passes or raises anything else."""
        try:
            self.verify(**options)
        except SigV4Error as error:
            return error
        raise AssertionError("the request verified")


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def received(request: AWSRequest) -> Received:
    """What goes on the wire for a signed AWSRequest: the prepared URL's path and query, every
    header line (``prepare()`` would keep one line per name), what ``prepare()`` adds
    (Content-Length), and the Host header urllib3 adds (botocore signs the same value)."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    host = parts.hostname + (f":{parts.port}" if parts.port not in (None, 80, 443) else "")
    headers = tuple((_text(k), _text(v)) for k, v in request.headers.items())
    headers += tuple((_text(k), _text(v)) for k, v in prepared.headers.items()
                     if k not in request.headers)
    if not any(k.lower() == "host" for k, _ in headers):
        headers += (("Host", host),)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return Received(method=prepared.method, path=(parts.path or "/").encode(),
                    query=parts.query.encode(), headers=headers, body=body)


def _request(method, url, body, headers, params, unsigned_payload, date_header, lines=()):
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}),
                         params=params or {})
    for name, value in lines:  # repeated lines of one header
        request.headers.add_header(name, value)
    if unsigned_payload:
        request.context["payload_signing_enabled"] = False
    if date_header:
        request.headers["Date"] = "replaced by the signer"
    return request


def _sign_with(signer, request, at):
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=at.astimezone(timezone.utc).replace(tzinfo=None)):
        signer.add_auth(request)
    return request


def sign(method="POST", url=ECR_URL, *, body=b"{}", headers=None, params=None, service="ecr",
         region=REGION, at=NOW, akid=AKID, secret=SECRET, token=None, unsigned_payload=False,
         date_header=False, lines=()) -> Received:
    """A request signed in the Authorization header, as botocore's SigV4Auth signs it."""
    request = _request(method, url, body, headers, params, unsigned_payload, date_header, lines)
    signer = SigV4Auth(Credentials(akid, secret, token), service, region)
    return received(_sign_with(signer, request, at))


def ecr(operation="DescribeRepositories", body=b"{}", **options) -> Received:
    """An ECR JSON 1.1 call the way boto3 builds it."""
    headers = {"X-Amz-Target": TARGET + operation,
               "Content-Type": "application/x-amz-json-1.1"}
    headers.update(options.pop("headers", {}))
    return sign("POST", options.pop("url", ECR_URL), body=body, headers=headers, **options)


def presign(method="GET", url=ECR_URL, *, body=b"", headers=None, params=None, service="ecr",
            region=REGION, at=NOW, expires=3600, akid=AKID, secret=SECRET,
            token=None) -> Received:
    """A presigned URL, as botocore's SigV4QueryAuth builds it."""
    request = _request(method, url, body, headers, params, False, False)
    signer = SigV4QueryAuth(Credentials(akid, secret, token), service, region, expires=expires)
    return received(_sign_with(signer, request, at))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
