"""The canonical request, string to sign and signature, as botocore's ``SigV4Auth`` computes them
for a non-S3 service -- rebuilt here from the request as received, since botocore is only a test
dependency. ``tests/unit/iam/sigv4/test_botocore_parity.py`` holds the two side by side.

- Path: dot segments and empty segments removed, then percent-encoded again (``%`` becomes
  ``%25``): the "encode twice" rule for everything but S3; botocore quotes the already-encoded
  URL path with ``safe='/~'``.
- Query: each key and value decoded ('+' is a space, as form encoding and botocore's
  ``urlencode`` of ``params`` have it) and re-encoded with only ``A-Za-z0-9-_.~`` left bare,
  pairs sorted by key then value. botocore signs a query that arrived inside the URL as it
  stands, sorted but not re-encoded; where that spelling differs from the canonical one,
  ``query_forms`` offers it as a second candidate.
- Headers: the signed names in the order given, each value trimmed with runs of whitespace
  collapsed, repeated lines joined with commas.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from .parse import HeaderPairs

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def raw_bytes(value: str | bytes) -> bytes:
    """A raw path or query string as bytes (text is taken to be its UTF-8 spelling)."""
    return bytes(value) if isinstance(value, (bytes, bytearray)) else _bytes(value)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 plus the removal of empty segments, as botocore.utils does it."""
    if not path:
        return "/"
    output: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if output:
                    output.pop()
            else:
                output.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    return first + "/".join(output) + last


def canonical_path(raw_path: str | bytes) -> str:
    path = raw_bytes(raw_path).decode("utf-8", "surrogateescape")
    return quote(remove_dot_segments(path), safe="/~", errors="surrogateescape")


def _split_query(raw_query: bytes) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, _, value in
            (part.partition(b"=") for part in raw_query.split(b"&"))] if raw_query else []


def _encode(raw: bytes) -> str:
    return quote_from_bytes(unquote_to_bytes(raw.replace(b"+", b" ")), safe="-_.~")


def query_forms(raw_query: str | bytes, exclude_key: str | None = None) -> list[str]:
    """Canonical query strings a client may have signed: the canonical one first and, when it
    differs, the received one sorted as botocore does for a query already in the URL. A pair
    whose (decoded, resp. raw) key is ``exclude_key`` is left out (X-Amz-Signature)."""
    raw = raw_bytes(raw_query)
    pairs = _split_query(raw)
    excluded = exclude_key.encode() if exclude_key else None
    canonical = sorted(
        (_encode(k), _encode(v)) for k, v in pairs
        if unquote_to_bytes(k.replace(b"+", b" ")) != excluded)
    forms = ["&".join(f"{k}={v}" for k, v in canonical)]
    as_sent = sorted((k, v) for k, v in pairs if k != excluded)
    botocore_form = "&".join(
        f"{k.decode('utf-8', 'surrogateescape')}={v.decode('utf-8', 'surrogateescape')}"
        for k, v in as_sent)
    if botocore_form != forms[0]:
        forms.append(botocore_form)
    return forms


def canonical_headers(pairs: HeaderPairs, signed_names: list[str]) -> str:
    lines = []
    for name in signed_names:
        wanted = name.lower()
        value = ",".join(" ".join(v.split()) for k, v in pairs if k == wanted)
        lines.append(f"{wanted}:{value}")
    return "\n".join(lines) + "\n"


def canonical_request(method: str, path: str, query: str, headers: str, signed_headers: str,
                      payload_hash: str) -> str:
    return "\n".join([method.upper(), path, query, headers, signed_headers, payload_hash])


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, timestamp, scope, hashlib.sha256(_bytes(canonical)).hexdigest()])


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, _bytes(message), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(_bytes("AWS4" + secret), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, _bytes(to_sign), hashlib.sha256).hexdigest()
