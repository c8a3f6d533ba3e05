"""Server-side validation of a decoded JSON request body against an operation's input shape.

botocore's client-side validator skips max lengths, patterns and enums, and clients may turn it
off, so the server checks everything. As AWS (Coral) does: a value of the wrong JSON type is a
SerializationException, found before any constraint is judged; a constraint violation is an
InvalidParameterException naming the first one, e.g. ``Invalid parameter at
'imageIds.1.member.imageTag' failed to satisfy constraint: 'Member must have length less than or
equal to 300'``. Constraints on the scalar members of a list (or the keys and values of a map)
are reported at the list itself, ``'Member must satisfy constraint: [...]'``, as ECR answers for
``registryIds`` (aws-actions/amazon-ecr-login#225). Unknown members are ignored, and dropped.
Only the first value's violations are named, so once one is found the rest of the body is only
checked for JSON types (no more lengths or patterns: a hostile body costs no regex past it).
"""
from __future__ import annotations

import base64
import binascii
import functools
import logging
import math
import re
from datetime import datetime, timezone

from botocore.model import OperationModel, Shape

from .errors import invalid_parameter, serialization_error

log = logging.getLogger("berth.api.ecr")

Problems = list[tuple[str, str]]

# Patterns from the model that Python's re cannot express faithfully; none so far. A pattern
# that fails to compile is skipped (and logged) even when it is not listed here.
UNSUPPORTED_PATTERNS: frozenset[str] = frozenset()

_INT_RANGES = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
_SCALARS = frozenset({"string", "integer", "long", "float", "double", "boolean", "timestamp",
                      "blob"})


def validate_input(operation_model: OperationModel, params: object) -> dict:
    """The validated params: modeled members only, timestamps as aware datetimes, blobs as
    bytes. Raises EcrApiError (SerializationException, InvalidParameterException)."""
    if not isinstance(params, dict):
        raise serialization_error(f"The request body must be a JSON object, not {_kind(params)}.")
    shape = operation_model.input_shape
    if shape is None:
        return {}
    problems: Problems = []
    result = _structure(shape, params, "", problems)
    if problems:
        path, constraint = problems[0]
        raise invalid_parameter(
            f"Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}'")
    return result


@functools.cache
def compiled_pattern(pattern: str) -> re.Pattern | None:
    """The model's (Java) regex compiled for fullmatch, or None when it is to be skipped."""
    if pattern in UNSUPPORTED_PATTERNS:
        return None
    try:
        # ASCII: Java's \w, \d and \s are ASCII-only by default.
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        log.warning("skipping model pattern %r that Python cannot compile: %s", pattern, exc)
        return None


def _value(shape: Shape, value: object, path: str, problems: Problems) -> object:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path, problems)
    if kind == "list":
        return _list(shape, value, path, problems)
    if kind == "map":
        return _map(shape, value, path, problems)
    converted, violations = _scalar(shape, value, path, judge=not problems, alone=True)
    if violations:
        problems.append((path, violations[0]))
    return converted


def _structure(shape: Shape, value: object, path: str, problems: Problems) -> dict:
    _expect(isinstance(value, dict), "an object", value, path)
    required = set(shape.required_members)
    result = {}
    for name, member in shape.members.items():
        member_path = f"{path}.{name}" if path else name
        item = value.get(name)
        if item is None:  # JSON null means absent
            if name in required:
                problems.append((member_path, "Member must not be null"))
            continue
        result[name] = _value(member, item, member_path, problems)
    return result


def _list(shape: Shape, value: object, path: str, problems: Problems) -> list:
    _expect(isinstance(value, list), "an array", value, path)
    if not problems:
        problems.extend((path, v) for v in _bounds(shape, len(value), "length"))
    member = shape.member
    if member.type_name in _SCALARS:
        return _scalars(member, value, path, problems, "Member")
    result = []
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            problems.append((item_path, "Member must not be null"))
        else:
            result.append(_value(member, item, item_path, problems))
    return result


def _map(shape: Shape, value: object, path: str, problems: Problems) -> dict:
    _expect(isinstance(value, dict), "an object", value, path)
    if not problems:
        problems.extend((path, v) for v in _bounds(shape, len(value), "length"))
    keys = _scalars(shape.key, list(value), path, problems, "Map keys")
    if shape.value.type_name in _SCALARS:
        values = _scalars(shape.value, list(value.values()), path, problems, "Map value")
        return dict(zip(keys, values))
    result = {}
    for key, item in zip(keys, value.values()):
        if item is None:
            problems.append((f"{path}.{key}", "Member must not be null"))
        else:
            result[key] = _value(shape.value, item, f"{path}.{key}", problems)
    return result


def _scalars(shape: Shape, items: list, path: str, problems: Problems, what: str) -> list:
    """Scalars inside a list or map; their violations are reported at the container."""
    result = []
    for item in items:
        converted, violations = ((None, ["Member must not be null"]) if item is None
                                 else _scalar(shape, item, path, judge=not problems))
        result.append(converted)  # keeps map keys and values aligned
        if violations:
            problems.append((path, f"{what} must satisfy constraint: [{', '.join(violations)}]"))
    return result


def _scalar(shape: Shape, value: object, path: str, judge: bool = True,
            alone: bool = False) -> tuple[object, list[str]]:
    """The value converted, and its constraint violations if ``judge`` (else its type only);
    ``alone``: a member of its own, not one of a list's or a map's."""
    kind = shape.type_name
    if kind == "string":
        _expect(isinstance(value, str), "a string", value, path)
        return value, _string_violations(shape, value, alone) if judge else []
    if kind in _INT_RANGES:
        number = _integer(kind, value, path)
        return number, _bounds(shape, number, "value") if judge else []
    if kind in ("float", "double"):
        number = _double(value, path)
        return number, _bounds(shape, number, "value") if judge else []
    if kind == "boolean":
        _expect(isinstance(value, bool), "a boolean", value, path)
        return value, []
    if kind == "timestamp":
        return _timestamp(value, path), []
    if kind == "blob":
        data = _blob(value, path)
        return data, _bounds(shape, len(data), "length") if judge else []
    raise serialization_error(f"Cannot read '{path}': unsupported shape type {kind}.")


def _string_violations(shape: Shape, value: str, alone: bool = False) -> list[str]:
    # Every violation of the one value: ECR names them all (length and pattern).
    violations = _bounds(shape, _utf16_length(value), "length")
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        violations.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    pattern = shape.metadata.get("pattern")
    compiled = compiled_pattern(pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        violations.append(_pattern_violation(shape, pattern, alone))
    return violations


def _pattern_violation(shape: Shape, pattern: str, alone: bool) -> str:
    """ECR words a repositoryName that fails its pattern itself, the pattern with a plain
    "/" (jenkins-x/jx#1344, boto/boto3#3191; today's pattern as mulgadc/spinifex captured it
    from CreateRepository); every other pattern in the model's words."""
    if alone and shape.name == "RepositoryName":
        plain = pattern.replace("\\/", "/")
        return f"must satisfy regular expression '{plain}'"
    return f"Member must satisfy regular expression pattern: {pattern}"


def _utf16_length(value: str) -> int:
    """Java measures strings in UTF-16 code units, and so does the model's min/max."""
    if value.isascii():
        return len(value)
    return len(value) + sum(1 for ch in value if ord(ch) > 0xFFFF)


def _bounds(shape: Shape, amount: float, noun: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and amount < low:
        return [f"Member must have {noun} greater than or equal to {low}"]
    if high is not None and amount > high:
        return [f"Member must have {noun} less than or equal to {high}"]
    return []


def _integer(kind: str, value: object, path: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 5.0 and 5e0 are the same JSON number as 5
    _expect(isinstance(value, int) and not isinstance(value, bool), f"an {kind}", value, path)
    low, high = _INT_RANGES[kind]
    if not low <= value <= high:
        raise serialization_error(f"Cannot read '{path}': {value} is out of range for {kind}.")
    return value


def _double(value: object, path: str) -> float:
    _expect(_is_number(value), "a number", value, path)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any double
        number = math.inf
    if not math.isfinite(number):
        raise serialization_error(f"Cannot read '{path}': {value} is out of range for double.")
    return number


def _timestamp(value: object, path: str) -> datetime:
    try:
        if _is_number(value):
            return datetime.fromtimestamp(value, timezone.utc)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    raise serialization_error(
        f"Cannot read '{path}': expected epoch seconds or an ISO-8601 timestamp.")


def _blob(value: object, path: str) -> bytes:
    _expect(isinstance(value, str), "a base64 string", value, path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise serialization_error(f"Cannot read '{path}': invalid base64.") from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _expect(ok: bool, wanted: str, value: object, path: str) -> None:
    if not ok:
        where = f"'{path}'" if path else "the request body"
        raise serialization_error(f"Cannot read {where}: expected {wanted}, got {_kind(value)}.")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a value")
