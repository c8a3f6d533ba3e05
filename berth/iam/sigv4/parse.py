"""Reading the signature parameters out of a request: the ``Authorization: AWS4-HMAC-SHA256 ...``
header form (dated by X-Amz-Date or Date) and the presigned query-string form (X-Amz-*).

Only shape is checked here (the parameters exist and parse); whether they are right is
``verify``'s business. The error wording follows what AWS JSON services send.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from .errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken

HeaderPairs = list[tuple[str, str]]

MAX_EXPIRES = 7 * 24 * 3600  # SigV4 signing keys are good for seven days at most
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                 "X-Amz-SignedHeaders", "X-Amz-Date")
_HEADER_PARAMS = ("Credential", "Signature", "SignedHeaders")


@dataclass(frozen=True)
class AuthParameters:
    presigned: bool
    algorithm: str
    credential: str
    signed_headers: str       # as sent: "host;x-amz-date;..."
    signature: str
    timestamp: datetime       # aware, UTC, whole seconds
    expires: int | None       # presigned only, when X-Amz-Expires is given
    security_token: str | None


@dataclass(frozen=True)
class Scope:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str

    def string(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def header_pairs(headers: Mapping | Iterable) -> HeaderPairs:
    """(lowercased name, value) for every header line, in order. Takes a dict, any multi-dict
    whose ``items()`` yields every line (Starlette's Headers, email.message), or a list of
    pairs (ASGI's ``scope["headers"]``); bytes are read as latin-1, as HTTP carries them."""
    items = headers.items() if hasattr(headers, "items") else headers
    return [(_text(name).lower(), _text(value)) for name, value in items]


def first_header(pairs: HeaderPairs, name: str) -> str | None:
    for key, value in pairs:
        if key == name:
            return value
    return None


def query_params(raw_query: bytes) -> list[tuple[str, str]]:
    """Decoded (key, value) pairs: '+' is a space, invalid UTF-8 kept as surrogates."""
    out = []
    for part in raw_query.split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        out.append((_unquote(key), _unquote(value)))
    return out


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "surrogateescape")


def parse_amz_date(value: str) -> datetime:
    try:
        if _AMZ_DATE.fullmatch(value):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    raise _bad_date(value)


def _parse_http_date(value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _bad_date(value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).replace(microsecond=0)


def _bad_date(value: str) -> IncompleteSignature:
    return IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
                               "See http://en.wikipedia.org/wiki/ISO_8601")


def _parse_expires(value: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", value):
        raise IncompleteSignature("X-Amz-Expires should be a number")
    if value.startswith("-"):
        raise IncompleteSignature("X-Amz-Expires must be non-negative")
    if len(value.lstrip("0")) > 7 or int(value) > MAX_EXPIRES:
        raise IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_EXPIRES} seconds")
    return int(value)


def parse_credential(credential: str) -> Scope:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'")
    return Scope(*parts)


def parse_auth(params: list[tuple[str, str]], pairs: HeaderPairs) -> AuthParameters:
    """The signature parameters of a request, in whichever form it carries them."""
    authorization = first_header(pairs, "authorization")
    if authorization is not None and not authorization.strip():
        authorization = None
    presigned = any(key == "X-Amz-Algorithm" for key, _ in params)
    if authorization is not None and presigned:
        raise InvalidSignature("Found both 'X-Amz-Algorithm' as a query-string param and "
                               "'Authorization' as HTTP header.")
    if authorization is not None:
        return _parse_header_form(authorization, pairs)
    if presigned:
        return _parse_query_form(params)
    raise MissingAuthenticationToken()


def _parse_header_form(authorization: str, pairs: HeaderPairs) -> AuthParameters:
    tokens = [t for t in re.split(r"[,\s]+", authorization.strip()) if t]
    algorithm, items = (tokens[0], tokens[1:]) if tokens else ("", [])
    fields: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise IncompleteSignature(f"'{item}' not a valid key=value pair (missing equal-sign) "
                                      f"in Authorization header: '{authorization}'.")
        fields[key] = value
    amz_date = first_header(pairs, "x-amz-date") or None
    http_date = first_header(pairs, "date") or None
    problems = [f"Authorization header requires '{name}' parameter. "
                for name in _HEADER_PARAMS if not fields.get(name)]
    if amz_date is None and http_date is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or "
                        "a 'Date' header. ")
    if problems:
        raise IncompleteSignature("".join(problems) + "Authorization=" + authorization)
    timestamp = parse_amz_date(amz_date) if amz_date else _parse_http_date(http_date)
    return AuthParameters(
        presigned=False, algorithm=algorithm, credential=fields["Credential"],
        signed_headers=fields["SignedHeaders"], signature=fields["Signature"],
        timestamp=timestamp, expires=None,
        security_token=first_header(pairs, "x-amz-security-token"))


def _parse_query_form(params: list[tuple[str, str]]) -> AuthParameters:
    found: dict[str, str] = {}
    for key, value in params:
        found.setdefault(key, value)  # the first occurrence; every one is signed anyway
    missing = [f"AWS query-string parameters must include '{name}'. "
               for name in _QUERY_PARAMS if not found.get(name)]
    if missing:
        raise IncompleteSignature("".join(missing) + "Re-examine the query-string parameters.")
    timestamp = parse_amz_date(found["X-Amz-Date"])
    expires = found.get("X-Amz-Expires")
    return AuthParameters(
        presigned=True, algorithm=found["X-Amz-Algorithm"],
        credential=found["X-Amz-Credential"], signed_headers=found["X-Amz-SignedHeaders"],
        signature=found["X-Amz-Signature"], timestamp=timestamp,
        expires=None if expires is None else _parse_expires(expires),
        security_token=found.get("X-Amz-Security-Token"))
