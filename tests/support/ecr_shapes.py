"""Checking a raw AWS JSON 1.1 answer against the botocore shape it claims to be: members,
types, enums, lengths, patterns, timestamps as epoch seconds, no nulls."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from typing import Any


def _pattern_problem(value: str, shape, path: str) -> list[str]:
    pattern = shape.metadata.get("pattern")
    if not pattern:
        return []
    try:
        compiled = re.compile(pattern)
    except re.error:
        return []  # a pattern Python's re cannot read: nothing to say
    return [] if compiled.fullmatch(value) else [f"{path}: {value!r} does not match {pattern!r}"]


def _range_problems(size: int | float, shape, path: str, what: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    problems = []
    if low is not None and size < low:
        problems.append(f"{path}: {what} {size} below min {low}")
    if high is not None and size > high:
        problems.append(f"{path}: {what} {size} above max {high}")
    return problems


def shape_problems(value: Any, shape, path: str = "$") -> list[str]:
    """Everything wrong with raw JSON ``value`` as an instance of botocore ``shape``."""
    kind = shape.type_name
    if value is None:
        return [f"{path}: null ({shape.name}); absent members are left out, not sent as null"]
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({shape.name}), got {type(value).__name__}"]
        problems = [f"{path}.{name}: required member of {shape.name} missing"
                    for name in shape.required_members if name not in value]
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                problems += shape_problems(member, shape.members[name], f"{path}.{name}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected an array ({shape.name}), got {type(value).__name__}"]
        problems = _range_problems(len(value), shape, path, "length")
        for i, item in enumerate(value):
            problems += shape_problems(item, shape.member, f"{path}[{i}]")
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({shape.name}), got {type(value).__name__}"]
        problems = []
        for k, v in value.items():
            problems += shape_problems(k, shape.key, f"{path}<key {k!r}>")
            problems += shape_problems(v, shape.value, f"{path}[{k!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string ({shape.name}), got {type(value).__name__}"]
        problems = _range_problems(len(value), shape, path, "length")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in enum {shape.name} {shape.enum}")
        return problems + _pattern_problem(value, shape, path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer ({shape.name}), got {value!r}"]
        return _range_problems(value, shape, path, "value")
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected a number ({shape.name}), got {value!r}"]
        return _range_problems(value, shape, path, "value")
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if kind == "timestamp":
        # AWS JSON 1.1 sends timestamps as epoch seconds (the model sets no other format).
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected epoch seconds ({shape.name}), got {value!r}"]
        try:
            when = datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            return [f"{path}: {value!r} is not a timestamp: {exc}"]
        if shape.name == "EvaluationTimestamp" and value == 0:
            return []  # a lifecycle policy not run yet: ECR answers the epoch
        if not datetime(2000, 1, 1, tzinfo=timezone.utc) <= when <= datetime(2200, 1, 1, tzinfo=timezone.utc):
            return [f"{path}: implausible timestamp {when.isoformat()}"]
        return []
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{path}: expected base64 text ({shape.name}), got {type(value).__name__}"]
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            return [f"{path}: not base64: {exc}"]
        return []
    return [f"{path}: shape type {kind} not understood by this check"]


