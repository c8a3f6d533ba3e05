"""Server-side verification of an AWS Signature Version 4 request.

``verify_request`` checks, in the order AWS JSON services report them: the form of the
signature parameters, the clock (5 minutes either way for the header form; X-Amz-Date +
X-Amz-Expires for a presigned URL), that ``host`` (and X-Amz-Target, when sent) is signed, the
algorithm, the credential scope (service, region, terminator, date), the access key, the
signature (constant-time comparison), and last the body against X-Amz-Content-Sha256.

``UNSIGNED-PAYLOAD`` is refused unless the caller allows it: AWS honours it only for the few
operations whose model says so (S3, and e.g. EBS PutSnapshotBlock); a JSON API such as ECR
hashes the body itself, so a request signed over ``UNSIGNED-PAYLOAD`` does not verify there.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import canonical as c
from .errors import IncompleteSignature, InvalidSignature, UnrecognizedClient
from .parse import (
    AuthParameters,
    HeaderPairs,
    Scope,
    first_header,
    header_pairs,
    parse_auth,
    parse_credential,
    query_params,
)

LookupSecret = Callable[[str], "tuple[str, Any] | None"]
AllowedRegions = Collection[str] | Callable[[str], bool] | None

DEFAULT_MAX_SKEW = timedelta(minutes=5)
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_REGION = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class VerifiedRequest:
    access_key_id: str
    identity: Any                 # whatever lookup_secret returned beside the secret
    region: str                   # from the credential scope
    service: str
    signed_at: datetime           # aware, UTC
    presigned: bool
    signed_headers: tuple[str, ...]
    payload_signed: bool          # False for UNSIGNED-PAYLOAD: the body is not authenticated
    security_token: str | None    # X-Amz-Security-Token, for the caller to judge
    signature: str                # as sent: what identifies this signed request
    valid_until: datetime         # the last moment the clock check lets the signature pass


def verify_request(method: str, path: str | bytes, query: str | bytes,
                   headers: Mapping | Iterable, *, lookup_secret: LookupSecret,
                   body: bytes | None = None, body_sha256: str | None = None,
                   now: datetime | None = None, service: str = "ecr",
                   allowed_regions: AllowedRegions = None,
                   max_skew: timedelta = DEFAULT_MAX_SKEW,
                   must_sign_if_present: Iterable[str] = ("x-amz-target",),
                   allow_unsigned_payload: bool = False) -> VerifiedRequest:
    """Verify a received request or raise a ``SigV4Error``.

    ``path`` and ``query`` are raw, as received (ASGI's ``raw_path`` and ``query_string``),
    without the ``?``. Give the body, or its SHA-256 hex digest when it was streamed.
    ``lookup_secret(access_key_id)`` returns ``(secret_access_key, identity)`` or None; it may
    raise a ``SigV4Error`` itself (``ExpiredToken`` for lapsed temporary credentials).
    ``allowed_regions`` is a collection of region names or a predicate; None allows any.
    ``allow_unsigned_payload`` accepts X-Amz-Content-Sha256 ``UNSIGNED-PAYLOAD`` (the body
    is then not authenticated: ``payload_signed`` is False).
    """
    if (body is None) == (body_sha256 is None):
        raise TypeError("give exactly one of body and body_sha256")
    now = datetime.now(timezone.utc) if now is None else _utc(now)
    pairs = header_pairs(headers)
    raw_query = c.raw_bytes(query)
    auth = parse_auth(query_params(raw_query), pairs)
    claimed_hash = _claimed_payload_hash(pairs)
    _check_time(auth, now, max_skew)
    signed_names = auth.signed_headers.split(";")
    _check_signed_headers(signed_names, pairs, must_sign_if_present)
    if auth.algorithm != c.ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{auth.algorithm}' "
                                  f"(only {c.ALGORITHM} for now). ")
    scope = parse_credential(auth.credential)
    _check_scope(scope, auth, service, allowed_regions)

    found = lookup_secret(scope.access_key_id)
    if found is None:
        raise UnrecognizedClient()
    secret, identity = found

    actual = body_sha256.lower() if body is None else hashlib.sha256(body).hexdigest()
    unsigned = claimed_hash == c.UNSIGNED_PAYLOAD
    refused = unsigned and not allow_unsigned_payload
    # Refused, the claim is ignored: the body's own hash is what the client should have signed.
    payload_line = actual if claimed_hash is None or refused else claimed_hash
    _check_signature(method, path, raw_query, pairs, auth, scope, secret, payload_line)
    if refused:  # signed over the body, but the header (unsigned) says the body is not
        raise InvalidSignature()
    if claimed_hash is not None and not unsigned and claimed_hash.lower() != actual:
        raise InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")
    return VerifiedRequest(
        access_key_id=scope.access_key_id, identity=identity, region=scope.region,
        service=scope.service, signed_at=auth.timestamp, presigned=auth.presigned,
        signed_headers=tuple(name.lower() for name in signed_names),
        payload_signed=not unsigned, security_token=auth.security_token,
        signature=auth.signature, valid_until=auth.timestamp + _window(auth, max_skew))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(c.TIMESTAMP_FORMAT)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} sec"


def _claimed_payload_hash(pairs: HeaderPairs) -> str | None:
    """X-Amz-Content-Sha256 when sent (botocore then signs its value as the payload hash)."""
    value = first_header(pairs, "x-amz-content-sha256")
    if value is None or value == c.UNSIGNED_PAYLOAD or _HEX_SHA256.fullmatch(value):
        return value
    raise IncompleteSignature("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 "
                              f"of the body, got '{value}'.")


def _window(auth: AuthParameters, max_skew: timedelta) -> timedelta:
    """How long after its date a signature passes: X-Amz-Expires when given, else the skew."""
    return timedelta(seconds=auth.expires) if auth.expires is not None else max_skew


def _check_time(auth: AuthParameters, now: datetime, max_skew: timedelta) -> None:
    signed = auth.timestamp
    if signed > now + max_skew:
        raise InvalidSignature(
            f"Signature not yet current: {_stamp(signed)} is still later than "
            f"{_stamp(now + max_skew)} ({_stamp(now)} + {_span(max_skew)}.)")
    window = _window(auth, max_skew)
    if signed < now - window:
        raise InvalidSignature(
            f"Signature expired: {_stamp(signed)} is now earlier than "
            f"{_stamp(now - window)} ({_stamp(now)} - {_span(window)}.)")


def _check_signed_headers(signed_names: list[str], pairs: HeaderPairs,
                          must_sign_if_present: Iterable[str]) -> None:
    signed = {name.lower() for name in signed_names}
    present = {name for name, _ in pairs}
    required = ["host"] + [n.lower() for n in must_sign_if_present if n.lower() in present]
    for name in required:
        if name not in signed:
            title = "-".join(part.capitalize() for part in name.split("-"))
            raise InvalidSignature(f"'{title}' must be a 'SignedHeader' in the AWS Authorization.")


def _check_scope(scope: Scope, auth: AuthParameters, service: str,
                 allowed_regions: AllowedRegions) -> None:
    problems = []
    if not _region_allowed(scope.region, allowed_regions):
        problems.append(f"Credential should be scoped to a valid region, not '{scope.region}'. ")
    if scope.service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'. ")
    if scope.terminator != "aws4_request":
        problems.append("Credential should be scoped with a valid terminator: 'aws4_request', "
                        f"not '{scope.terminator}'. ")
    expected_date = auth.timestamp.strftime("%Y%m%d")
    if scope.date != expected_date:
        problems.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                        f"of date from HTTP: '{scope.date}' != '{expected_date}', from "
                        f"'{_stamp(auth.timestamp)}'.")
    if problems:
        raise InvalidSignature("".join(problems))


def _region_allowed(region: str, allowed_regions: AllowedRegions) -> bool:
    if not _REGION.fullmatch(region):
        return False
    if allowed_regions is None:
        return True
    if callable(allowed_regions):
        return bool(allowed_regions(region))
    return region in allowed_regions


def _check_signature(method: str, path: str | bytes, raw_query: bytes, pairs: HeaderPairs,
                     auth: AuthParameters, scope: Scope, secret: str, payload_line: str) -> None:
    key = c.signing_key(secret, scope.date, scope.region, scope.service)
    path_line = c.canonical_path(path)
    headers_block = c.canonical_headers(pairs, auth.signed_headers.split(";"))
    exclude = "X-Amz-Signature" if auth.presigned else None
    provided = auth.signature.encode("utf-8", "surrogateescape")
    attempts = []
    for query_line in c.query_forms(raw_query, exclude):
        request = c.canonical_request(method, path_line, query_line, headers_block,
                                      auth.signed_headers, payload_line)
        to_sign = c.string_to_sign(_stamp(auth.timestamp), scope.string(), request)
        if hmac.compare_digest(c.signature(key, to_sign).encode("ascii"), provided):
            return
        attempts.append((request, to_sign))
    raise InvalidSignature(canonical_request=attempts[0][0], string_to_sign=attempts[0][1])
