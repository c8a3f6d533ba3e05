"""Condition operators: parsing their names, checking their values, evaluating them.

Rules (IAM "Condition operators" and "Conditions with multiple context keys or values"):

* Several operators in a Condition block, and several keys under one operator: all must hold.
* Several values for one key: any may match (OR); for a negated operator (``StringNotEquals``,
  ``NotIpAddress``, ``ArnNotLike``, ...) none may match (NOR).
* A key absent from the request: positive operators are false, negated ones true;
  ``...IfExists`` makes the condition true; ``ForAllValues:`` is true and ``ForAnyValue:``
  false (an empty list counts as absent).
* ``ForAnyValue:`` holds if at least one request value satisfies the operator, ``ForAllValues:``
  if every one does. A negated operator is applied per request value ("matches none of the
  policy values") before the quantifier.
* Without a set qualifier, a multivalued request key is treated like ``ForAnyValue`` for
  positive operators and as "no request value matches" for negated ones.
* ``Null``: ``true`` means the key is absent, ``false`` that it is present.
* Policy variables are substituted in String, Arn and Bool operator values only.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Sequence

from .context import RequestContext, as_text
from .matching import arn_match, glob_match
from .variables import parse_template, render_items, render_text, split_pieces

STRING = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
          "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")
NUMERIC = ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
           "NumericGreaterThan", "NumericGreaterThanEquals")
DATE = ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
        "DateGreaterThanEquals")
ARN = ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")
OTHER = ("Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null")
BASE_OPERATORS = STRING + NUMERIC + DATE + ARN + OTHER

# Each negated operator and the positive one it negates.
NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
QUALIFIERS = ("ForAnyValue", "ForAllValues")
_VARIABLE_OPERATORS = frozenset(STRING + ARN + ("Bool",))

_BY_LOWER = {name.lower(): name for name in BASE_OPERATORS}
_QUALIFIER_BY_LOWER = {name.lower(): name for name in QUALIFIERS}


@dataclass(frozen=True)
class Operator:
    """A parsed condition operator such as ``ForAllValues:StringLikeIfExists``."""

    base: str
    qualifier: str | None = None
    if_exists: bool = False

    @property
    def name(self) -> str:
        prefix = f"{self.qualifier}:" if self.qualifier else ""
        return f"{prefix}{self.base}{'IfExists' if self.if_exists else ''}"

    @property
    def negated(self) -> bool:
        return self.base in NEGATED

    @property
    def takes_variables(self) -> bool:
        return self.base in _VARIABLE_OPERATORS


def parse_operator(name: str) -> Operator:
    """Parse an operator name (case-insensitively). Raises ValueError with the reason."""
    qualifier = None
    rest = name
    if ":" in name:
        prefix, rest = name.split(":", 1)
        qualifier = _QUALIFIER_BY_LOWER.get(prefix.lower())
        if qualifier is None:
            raise ValueError(
                f"unknown set operator {prefix!r} (expected ForAnyValue or ForAllValues)")
    if_exists = False
    base = _BY_LOWER.get(rest.lower())
    if base is None and rest.lower().endswith("ifexists"):
        base = _BY_LOWER.get(rest[: -len("IfExists")].lower())
        if_exists = base is not None
    if base is None:
        raise ValueError(f"unknown condition operator {name!r}")
    if base == "Null" and if_exists:
        raise ValueError("IfExists cannot be added to the Null operator")
    return Operator(base, qualifier, if_exists)


# --- values -------------------------------------------------------------------------------

_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")
_W3C_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def parse_date(text: str) -> datetime:
    """An ISO 8601 (W3C profile) date/time or epoch seconds, as an aware UTC datetime.
    A bare four-digit number is a year; other all-digit strings are epoch seconds. A time
    without a zone is UTC. Raises ValueError."""
    try:
        return _parse_date(text.strip())
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 date/time or epoch seconds ({exc})"
                         ) from None


def _parse_date(text: str) -> datetime:
    match = _W3C_DATE.match(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                          int(minute or 0), int(second or 0), micro, tzinfo=timezone.utc)
        if zone and zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            moment -= sign * offset
        return moment
    if _EPOCH.match(text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def parse_number(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return number


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR range") from None


def parse_bool(text: str) -> bool:
    folded = text.strip().lower()
    if folded not in ("true", "false"):
        raise ValueError(f"{text!r} is not 'true' or 'false'")
    return folded == "true"


def parse_binary(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{text!r} is not base64") from None


def validate_value(operator: Operator, value: str, variables_enabled: bool) -> None:
    """Check one policy value for ``operator`` at parse time. Raises ValueError."""
    base = operator.base
    if base in NUMERIC:
        parse_number(value)
    elif base in DATE:
        parse_date(value)
    elif base in ("IpAddress", "NotIpAddress"):
        parse_network(value)
    elif base == "BinaryEquals":
        parse_binary(value)
    elif base == "Null":
        parse_bool(value)
    elif base == "Bool":
        if not (variables_enabled and "${" in value):
            parse_bool(value)


# --- evaluation ---------------------------------------------------------------------------

def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return parse_number(str(value))
    except ValueError:
        return None


def _as_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return datetime.fromtimestamp(float(value), timezone.utc)
    try:
        return parse_date(str(value))
    except (ValueError, OverflowError):
        return None


def _as_address(value: Any):
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return parse_binary(str(value))
    except ValueError:
        return None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda r, p: r == p,
    "LessThan": lambda r, p: r < p,
    "LessThanEquals": lambda r, p: r <= p,
    "GreaterThan": lambda r, p: r > p,
    "GreaterThanEquals": lambda r, p: r >= p,
}


def _positive_matcher(
    base: str, values: Sequence[str], ctx: RequestContext, variables: bool
) -> Callable[[Any], bool]:
    """A test "does this request value match any of the policy values" for a positive
    operator. Raises ``Unresolved`` for an unresolvable policy variable."""
    resolve = ctx.variable
    if base in ("StringEquals", "StringEqualsIgnoreCase"):
        texts = [render_text(parse_template(v, variables), resolve) for v in values]
        if base == "StringEquals":
            wanted = set(texts)
            return lambda r: as_text(r) in wanted
        folded = {t.casefold() for t in texts}
        return lambda r: as_text(r).casefold() in folded
    if base == "StringLike":
        patterns = [render_items(parse_template(v, variables), resolve, wildcards=True)
                    for v in values]
        return lambda r: any(glob_match(p, as_text(r)) for p in patterns)
    if base in ("ArnEquals", "ArnLike"):
        arns = [
            [render_items(seg, resolve, wildcards=True)
             for seg in split_pieces(parse_template(v, variables), ":", 5)]
            for v in values
        ]
        return lambda r: any(arn_match(segments, as_text(r)) for segments in arns)
    if base == "Bool":
        flags = {_as_bool(render_text(parse_template(v, variables), resolve)) for v in values}
        flags.discard(None)  # a variable that did not resolve to true/false matches nothing
        return lambda r: _as_bool(r) in flags
    if base.startswith("Numeric"):
        compare = _ORDER[base[len("Numeric"):]]
        numbers = [parse_number(v) for v in values]

        def numeric(r: Any) -> bool:
            n = _as_number(r)
            return n is not None and any(compare(n, p) for p in numbers)
        return numeric
    if base.startswith("Date"):
        compare = _ORDER[base[len("Date"):]]
        dates = [parse_date(v) for v in values]

        def dated(r: Any) -> bool:
            d = _as_date(r)
            return d is not None and any(compare(d, p) for p in dates)
        return dated
    if base == "IpAddress":
        networks = [parse_network(v) for v in values]

        def addressed(r: Any) -> bool:
            address = _as_address(r)
            return address is not None and any(
                address.version == net.version and address in net for net in networks)
        return addressed
    if base == "BinaryEquals":
        blobs = {parse_binary(v) for v in values}
        return lambda r: _as_bytes(r) in blobs
    raise AssertionError(f"no matcher for {base}")


def evaluate_condition(
    operator: Operator, key: str, values: Sequence[str], ctx: RequestContext,
    variables_enabled: bool,
) -> bool:
    """One operator/key pair against the request. Raises ``Unresolved``."""
    request_values = ctx.values(key)
    if operator.base == "Null":
        absent = request_values is None
        return any(parse_bool(v) == absent for v in values)
    if request_values is None:
        if operator.if_exists or operator.qualifier == "ForAllValues":
            return True
        if operator.qualifier == "ForAnyValue":
            return False
        return operator.negated
    positive = NEGATED.get(operator.base, operator.base)
    matches = _positive_matcher(positive, values, ctx, variables_enabled)
    if operator.qualifier is None:
        hit = any(matches(r) for r in request_values)
        return not hit if operator.negated else hit
    if operator.negated:
        def test(r: Any) -> bool:
            return not matches(r)
    else:
        test = matches
    if operator.qualifier == "ForAnyValue":
        return any(test(r) for r in request_values)
    return all(test(r) for r in request_values)
