"""EventBridge event patterns: checked once when a target is put (``compile_pattern`` raises
``PatternError`` with the reason), then matched against event envelopes (``matches``).

No maintained Python library implements them (the PyPI candidates are unmaintained
experiments), so this is the documented subset of the EventBridge user guide's "Event
patterns" and "Content filtering" pages: a pattern is a JSON object whose fields are nested
objects or non-empty arrays of matchers (any of which may match: OR), all fields must match
(AND), ``$or`` lists alternative patterns. Matchers: exact values (string, number, boolean,
null), ``prefix``, ``suffix`` (each also ``{"equals-ignore-case": s}``), ``equals-ignore-case``,
``anything-but`` (a value, a list of values, or ``prefix``/``suffix``/``equals-ignore-case``),
``numeric`` (one or two comparisons) and ``exists``. An event array matches when any element
does; a field the event lacks matches only ``{"exists": false}``."""
from __future__ import annotations

import json
from typing import Any

NUMERIC_LIMIT = 5e9  # EventBridge's bound on numbers in numeric matchers
_COMPARISONS = {"=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_LOWER, _UPPER = {">", ">="}, {"<", "<="}
_MISSING = object()


class PatternError(ValueError):
    """The pattern is not a valid EventBridge event pattern; the message says why."""


def compile_pattern(text: str | dict) -> dict:
    """The pattern as a dict, after checking every field and matcher."""
    if isinstance(text, str):
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise PatternError(f"the event pattern is not JSON: {exc}") from None
    else:
        pattern = text
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError("the event pattern must be a non-empty JSON object")
    _check_object(pattern, "")
    return pattern


def _check_object(pattern: dict, path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(
                    isinstance(v, dict) and v for v in value):
                raise PatternError(f"{where}: $or takes a list of at least two patterns")
            for alternative in value:
                _check_object(alternative, path)
        elif isinstance(value, dict):
            if not value:
                raise PatternError(f"{where}: an empty object matches nothing")
            _check_object(value, where + ".")
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"{where}: empty arrays are not allowed")
            for matcher in value:
                _check_matcher(matcher, where)
        else:
            raise PatternError(f"{where}: match values must be in an array, e.g. "
                               f"[{json.dumps(value)}]")


def _check_matcher(matcher: Any, where: str) -> None:
    if _is_value(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise PatternError(f"{where}: each matcher is a value or an object with one operator")
    (op, arg), = matcher.items()
    if op in ("prefix", "suffix"):
        if not (isinstance(arg, str) or _ignore_case(arg)):
            raise PatternError(f"{where}: {op} takes a string or {{\"equals-ignore-case\": s}}")
    elif op == "equals-ignore-case":
        if not isinstance(arg, str):
            raise PatternError(f"{where}: equals-ignore-case takes a string")
    elif op == "anything-but":
        _check_anything_but(arg, where)
    elif op == "numeric":
        _numeric_bounds(arg, where)
    elif op == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"{where}: exists takes true or false")
    else:
        raise PatternError(f"{where}: unrecognized match type {op!r}")


def _check_anything_but(arg: Any, where: str) -> None:
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case") \
                or not isinstance(next(iter(arg.values())), str):
            raise PatternError(f"{where}: anything-but takes a value, a list of values, or "
                               "one of prefix, suffix, equals-ignore-case with a string")
        return
    values = arg if isinstance(arg, list) else [arg]
    if not values or not all(isinstance(v, str) for v in values) and not all(
            _is_number(v) for v in values):
        raise PatternError(f"{where}: anything-but takes strings only or numbers only")


def _numeric_bounds(arg: Any, where: str) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise PatternError(f"{where}: numeric takes one or two comparisons, e.g. "
                           "[\">\", 0, \"<=\", 5]")
    pairs = [(arg[i], arg[i + 1]) for i in range(0, len(arg), 2)]
    for op, number in pairs:
        if op not in _COMPARISONS:
            raise PatternError(f"{where}: unrecognized numeric operator {op!r}")
        if not _is_number(number) or abs(number) > NUMERIC_LIMIT:
            raise PatternError(f"{where}: numeric bounds are numbers within "
                               f"±{NUMERIC_LIMIT:.0e}")
    if len(pairs) == 2:
        ops = {op for op, _ in pairs}
        if not (ops & _LOWER and ops & _UPPER):
            raise PatternError(f"{where}: two numeric comparisons must be a lower and an "
                               "upper bound")
        low = next(n for o, n in pairs if o in _LOWER)
        high = next(n for o, n in pairs if o in _UPPER)
        if low >= high:
            raise PatternError(f"{where}: the numeric range is empty")
    return pairs


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_value(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _ignore_case(arg: Any) -> bool:
    return isinstance(arg, dict) and len(arg) == 1 and isinstance(
        arg.get("equals-ignore-case"), str)


# -- matching -------------------------------------------------------------------------------
def matches(pattern: dict, event: dict) -> bool:
    """Whether ``event`` (a JSON object) matches a compiled ``pattern``."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in expected):
                return False
            continue
        actual = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not matches(expected, actual):
                return False
        elif not any(_leaf(matcher, actual) for matcher in expected):
            return False
    return True


def _leaf(matcher: Any, actual: Any) -> bool:
    if isinstance(matcher, dict) and "exists" in matcher:
        present = actual is not _MISSING and not isinstance(actual, dict)
        return present == matcher["exists"]
    if actual is _MISSING or isinstance(actual, dict):
        return False
    values = actual if isinstance(actual, list) else [actual]
    return any(_one(matcher, value) for value in values)


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    (op, arg), = matcher.items()
    if op == "numeric":
        return _is_number(value) and all(_COMPARISONS[o](value, n)
                                         for o, n in zip(arg[::2], arg[1::2]))
    if op == "anything-but":
        return _anything_but(arg, value)
    if not isinstance(value, str):
        return False
    return _text(op, arg, value)


def _text(op: str, arg: Any, value: str) -> bool:
    if isinstance(arg, dict):  # prefix/suffix with equals-ignore-case
        arg, value = arg["equals-ignore-case"].casefold(), value.casefold()
    if op == "prefix":
        return value.startswith(arg)
    if op == "suffix":
        return value.endswith(arg)
    return value.casefold() == arg.casefold()  # equals-ignore-case


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, dict):
        (op, text), = arg.items()
        return isinstance(value, str) and not _text(op, text, value)
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_equal(v, value) for v in excluded)


def _equal(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return expected == value
    return type(expected) is type(value) and expected == value
