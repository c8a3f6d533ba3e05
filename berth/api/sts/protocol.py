"""The AWS query protocol as STS speaks it, driven by botocore's ``sts`` model: a form
(``Action=AssumeRole&Version=2011-06-15&RoleArn=...``, a POST body or a GET query string) in,
XML out. Parses and validates requests and shapes results and errors as AWS STS does; no
business rules live here.

As live STS answers (probed): the operation is found by Action *and* Version, so a missing,
empty or other Version is InvalidAction; unknown parameters are ignored; an integer that does
not parse or overflows is MalformedInput, without a message; all constraint violations are
named in one ValidationError, a member's pattern before its length, lengths in code points.
Departures: no Action is MissingAction (AWS redirects to aws.amazon.com); a repeated
parameter is refused (AWS takes the first); sensitive values are not echoed (Coral's way)."""
from __future__ import annotations

import functools
import logging
import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel, Shape

log = logging.getLogger("berth.api.sts")

CONTENT_TYPE = "text/xml"
API_VERSION = "2011-06-15"
XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
# Errors raised before an operation is found come from AWS's front end, in its namespace.
FAULT_XMLNS = "http://webservices.amazon.com/AWSFault/2005-15-09"
_FAULT_CODES = frozenset({"MissingAction", "InvalidAction"})

_INT_RANGES = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
_INTEGER = re.compile(r"[+-]?[0-9]+")  # what Java's parseInt takes: "+900" and "0900" too
_INDEX = re.compile(r"[1-9][0-9]*")
# Java's \p{..} classes that Python's re lacks. Python's Unicode \w is \p{L}, \p{N} and "_"
# (which the model's tag patterns allow anyway); \p{Z} is these 17 characters.
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w",
                 r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"}
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class StsError(Exception):
    """An error answer: ``code`` and ``message`` as AWS words them, the HTTP ``status``, and
    whether the caller (Sender) or the service (Receiver) is at fault."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.sender = code, message, status, sender


@functools.cache
def service_model() -> ServiceModel:
    return ServiceModel(create_loader().load_service_model("sts", "service-2"), "sts")


@functools.cache
def operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation_model(operation: str, version: str = API_VERSION) -> OperationModel:
    if operation not in operation_names() or version != API_VERSION:
        raise StsError("InvalidAction",
                       f"Could not find operation {operation} for version {version}")
    return service_model().operation_model(operation)


def parse_form(body: bytes | str) -> dict[str, str]:
    """A form-urlencoded POST body (or a GET query string) as a flat dict."""
    try:
        text = body if isinstance(body, str) else body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except UnicodeDecodeError:
        raise StsError("MalformedQueryString", "The query string is not valid UTF-8") from None
    except ValueError as exc:
        raise StsError("MalformedQueryString", f"Malformed query string: {exc}") from None
    flat: dict[str, str] = {}
    for key, value in pairs:
        if key in flat:
            raise StsError("MalformedQueryString", f"The parameter {key} appears more than once")
        flat[key] = value
    return flat


def operation_name(flat: dict[str, str]) -> str:
    """The operation the form's Action names, for the form's Version."""
    action = flat.get("Action")
    if action is None:
        raise StsError("MissingAction", "Missing Action")
    operation_model(action, flat.get("Version", "NO_VERSION_SPECIFIED"))
    return action


def decode_input(operation: str, flat: dict[str, str]) -> dict:
    """The operation's input as botocore's QuerySerializer had it before serializing,
    validated against the model. Raises StsError (MalformedInput, ValidationError)."""
    shape = operation_model(operation).input_shape
    if shape is None:
        return {}
    params = _read_structure(shape, flat, "")
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
        raise StsError("ValidationError", f"{count} detected: {'; '.join(problems)}")
    return params


# Reading the form; None is absent (the query protocol has no null). STS's inputs are only
# strings, integers, structures and lists (never flattened or renamed): the tests pin that.

def _read(shape: Shape, flat: dict[str, str], key: str):
    kind = shape.type_name
    if kind == "structure":
        present = any(name.startswith(key + ".") for name in flat)
        return _read_structure(shape, flat, key + ".") if present else None
    if kind == "list":
        return _read_list(shape, flat, key)
    return _scalar(shape, flat[key]) if key in flat else None


def _read_structure(shape: Shape, flat: dict[str, str], prefix: str) -> dict:
    result = {}
    for name, member in shape.members.items():
        value = _read(member, flat, prefix + name)
        if value is not None:
            result[name] = value
    return result


def _read_list(shape: Shape, flat: dict[str, str], key: str) -> list | None:
    indices = _indices(flat, f"{key}.member", shape.member.type_name == "structure")
    if not indices:
        return [] if flat.get(key) == "" else None  # "Tags=" is botocore's empty list
    return [_read(shape.member, flat, f"{key}.member.{index}") for index in indices]


def _indices(flat: dict[str, str], base: str, nested: bool) -> list[int]:
    """The N of ``base.N`` (``base.N.<member>`` when ``nested``): 1 to n, without gaps."""
    found = set()
    for key in flat:
        if key.startswith(base + "."):
            index, dot, rest = key[len(base) + 1:].partition(".")
            if _INDEX.fullmatch(index) and bool(rest) == nested:
                found.add(int(index) if len(index) < 10 else 10**10)  # past any end: a gap
    ordered = sorted(found)
    if ordered and ordered[-1] != len(ordered):
        raise StsError("MalformedInput", f"{base}.N must count from 1 without gaps")
    return ordered


def _scalar(shape: Shape, text: str):
    if shape.type_name not in _INT_RANGES:
        return text
    if not text:
        raise StsError("MalformedInput", "missing value for decimal type")
    low, high = _INT_RANGES[shape.type_name]
    if not _INTEGER.fullmatch(text) or not low <= _int(text) <= high:
        raise StsError("MalformedInput", "")  # AWS says no more
    return int(text)


def _int(text: str) -> float:
    digits = text.lstrip("+-").lstrip("0")
    return float("inf") if len(digits) > 20 else int(text)  # int() refuses 4300+ digits


# Validation: every violation, in model order, worded as AWS (Coral) words it.

def _check(shape: Shape, value, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            camel = name[:1].lower() + name[1:]  # AWS names members lowerCamel
            member_path = f"{path}.{camel}" if path else camel
            if value.get(name) is not None:
                _check(member, value[name], member_path, problems)
            elif name in shape.required_members:
                problems.append(f"Value null at '{member_path}' failed to satisfy constraint: "
                                "Member must not be null")
    elif kind == "list":
        problems.extend(_problem(shape, value, path, c)
                        for c in _bounds(shape, len(value), "length"))
        if shape.member.type_name == "structure":
            for index, item in enumerate(value, 1):
                _check(shape.member, item, f"{path}.{index}.member", problems)
        elif any(_violations(shape.member, item) for item in value):
            # A list's scalars are judged at the list, naming all their constraints.
            wanted = ", ".join(_constraints(shape.member))
            problems.append(_problem(shape, value, path,
                                     f"Member must satisfy constraint: [{wanted}]"))
    else:
        problems.extend(_problem(shape, value, path, c) for c in _violations(shape, value))


def _violations(shape: Shape, value) -> list[str]:
    if shape.type_name != "string":
        return _bounds(shape, value, "value") if isinstance(value, int) else []
    found = []
    pattern = shape.metadata.get("pattern")
    compiled = compiled_pattern(pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        found.append(f"Member must satisfy regular expression pattern: {pattern}")
    found.extend(_bounds(shape, len(value), "length"))  # code points, as AWS counts
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        found.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    return found


def _bounds(shape: Shape, number: int, what: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and number < low:
        return [f"Member must have {what} greater than or equal to {low}"]
    if high is not None and number > high:
        return [f"Member must have {what} less than or equal to {high}"]
    return []


def _constraints(shape: Shape) -> list[str]:
    """All of a scalar's constraints, as AWS lists them for a list's members."""
    what = "length" if shape.type_name == "string" else "value"
    meta = shape.metadata
    wanted = []
    if "max" in meta:
        wanted.append(f"Member must have {what} less than or equal to {meta['max']}")
    if "min" in meta:
        wanted.append(f"Member must have {what} greater than or equal to {meta['min']}")
    if "pattern" in meta:
        wanted.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if "enum" in meta:
        wanted.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    return wanted


def _problem(shape: Shape, value, path: str, constraint: str) -> str:
    shown = "" if shape.metadata.get("sensitive") else f" '{_java_text(value)}'"
    return f"Value{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _java_text(value) -> str:
    if isinstance(value, list):
        return f"[{', '.join(_java_text(item) for item in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_java_text(v)}" for k, v in value.items()) + "}"
    return str(value)


@functools.cache
def compiled_pattern(pattern: str) -> re.Pattern | None:
    """The model's Java regex for fullmatch, or None when Python cannot express it."""
    translated = pattern
    for java, python in _JAVA_CLASSES.items():
        translated = translated.replace(java, python)
    try:
        # ASCII unless \p{..} was translated: Java's \w and \d are ASCII-only.
        return re.compile(translated, re.ASCII if translated == pattern else 0)
    except re.error as exc:
        log.warning("not checking model pattern %r that Python cannot compile: %s", pattern, exc)
        return None


# Responses: indented as AWS indents them.

def encode_output(operation: str, result: dict, request_id: str) -> bytes:
    shape = operation_model(operation).output_shape
    lines = [f'<{operation}Response xmlns="{XMLNS}">']
    if shape is not None:
        _element(shape.serialization.get("resultWrapper", f"{operation}Result"), shape,
                 result or {}, 1, lines)
    lines += ["  <ResponseMetadata>", f"    <RequestId>{_xml(request_id)}</RequestId>",
              "  </ResponseMetadata>", f"</{operation}Response>"]
    return ("\n".join(lines) + "\n").encode()


def encode_error(error: StsError, request_id: str) -> bytes:
    namespace = FAULT_XMLNS if error.code in _FAULT_CODES else XMLNS
    lines = [f'<ErrorResponse xmlns="{namespace}">', "  <Error>",
             f"    <Type>{'Sender' if error.sender else 'Receiver'}</Type>",
             f"    <Code>{_xml(error.code)}</Code>"]
    if error.message:  # AWS sends none for some MalformedInput
        lines.append(f"    <Message>{_xml(error.message)}</Message>")
    lines += ["  </Error>", f"  <RequestId>{_xml(request_id)}</RequestId>", "</ErrorResponse>"]
    return ("\n".join(lines) + "\n").encode()


def _element(name: str, shape: Shape, value, depth: int, lines: list[str]) -> None:
    """``value`` as element ``name``: lists of ``<member>``, maps of ``<entry>`` (STS's
    outputs have no flattened or renamed members, nor booleans or blobs)."""
    pad, kind = "  " * depth, shape.type_name
    if kind not in ("structure", "list", "map"):
        text = _iso8601(value) if kind == "timestamp" else str(value)
        lines.append(f"{pad}<{name}>{_xml(text)}</{name}>")
        return
    start = len(lines)
    if kind == "structure":
        for member_name, member in shape.members.items():
            if value.get(member_name) is not None:
                _element(member_name, member, value[member_name], depth + 1, lines)
    elif kind == "list":
        for item in value:
            _element("member", shape.member, item, depth + 1, lines)
    else:
        for key, item in value.items():
            lines.append(f"{pad}  <entry>")
            _element("key", shape.key, key, depth + 2, lines)
            _element("value", shape.value, item, depth + 2, lines)
            lines.append(f"{pad}  </entry>")
    if len(lines) == start:
        lines.append(f"{pad}<{name}/>")
    else:
        lines.insert(start, f"{pad}<{name}>")
        lines.append(f"{pad}</{name}>")


def _iso8601(value: datetime | float) -> str:
    """UTC, to the millisecond when there are any, as STS writes ``Expiration``."""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, timezone.utc)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond // 1000:03d}Z" if value.microsecond else f"{text}Z"


def _xml(text: str) -> str:
    # Characters XML 1.0 cannot carry (a validation message may echo them) become U+FFFD;
    # a CR is kept as a reference, which parsers would otherwise turn into LF.
    return escape(_XML_ILLEGAL.sub("\ufffd", text), {"\r": "&#13;"})
