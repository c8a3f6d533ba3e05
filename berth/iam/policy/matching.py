"""Wildcard matching for actions, resources and ARNs.

A pattern is compiled to a tuple of items: one-character strings that must match literally, and
the ``STAR`` (any run of characters, including none) and ``QMARK`` (exactly one character)
wildcards. Matching is the two-pointer glob algorithm: linear in the common case and
O(len(pattern) * len(value)) at worst, never exponential, whatever a policy author writes.

ARNs are matched segment by segment, as IAM does for ``Resource`` and the ``Arn*`` condition
operators: ``arn:partition:service:region:account:resource`` splits on its first five colons, and
a wildcard in one segment never spans a colon into the next. The sixth segment (the resource)
keeps any further colons, so ``repository/*`` matches ``repository/a:b``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence, Union


class _Wildcard:
    __slots__ = ("symbol",)

    def __init__(self, symbol: str):
        self.symbol = symbol

    def __repr__(self) -> str:
        return self.symbol


STAR = _Wildcard("*")
QMARK = _Wildcard("?")

Item = Union[str, _Wildcard]
Pattern = tuple  # tuple[Item, ...]

ARN_SEGMENTS = 6


def literal_items(text: str) -> Pattern:
    """Items matching ``text`` exactly (``*`` and ``?`` are ordinary characters)."""
    return tuple(text)


def glob_items(text: str) -> Pattern:
    """Items for ``text`` with ``*`` and ``?`` as wildcards."""
    return tuple(STAR if ch == "*" else QMARK if ch == "?" else ch for ch in text)


@lru_cache(maxsize=4096)
def compile_glob(text: str, ignore_case: bool = False) -> Pattern:
    return glob_items(text.lower() if ignore_case else text)


_MATCHES: dict = {}
_MAX_MATCHES = 1 << 16


def glob_match(pattern: Sequence[Item], value: str) -> bool:
    """Whether ``value`` matches all of ``pattern``. Case folding, if any, is the caller's:
    lower-case both sides before compiling and matching. Results are remembered: the same
    few patterns meet the same few actions and ARNs on every request."""
    if type(pattern) is not tuple:
        return _glob_match(pattern, value)
    key = (pattern, value)
    found = _MATCHES.get(key)
    if found is None:
        if len(_MATCHES) >= _MAX_MATCHES:
            _MATCHES.clear()
        found = _MATCHES[key] = _glob_match(pattern, value)
    return found


def _glob_match(pattern: Sequence[Item], value: str) -> bool:
    p = i = 0
    star_p = -1
    star_i = 0
    n_pat = len(pattern)
    n_val = len(value)
    while i < n_val:
        item = pattern[p] if p < n_pat else None
        if item is STAR:
            star_p, star_i = p, i
            p += 1
        elif item is not None and (item is QMARK or item == value[i]):
            p += 1
            i += 1
        elif star_p >= 0:
            p = star_p + 1
            star_i += 1
            i = star_i
        else:
            return False
    while p < n_pat and pattern[p] is STAR:
        p += 1
    return p == n_pat


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``StringLike``-style matching of a plain pattern (no policy variables)."""
    if ignore_case:
        return glob_match(compile_glob(pattern, True), value.lower())
    return glob_match(compile_glob(pattern), value)


def action_matches(pattern: str, action: str) -> bool:
    """Action names (``ecr:BatchGetImage``) compare case-insensitively, with wildcards."""
    return like(pattern, action, ignore_case=True)


def split_arn(text: str) -> list[str]:
    """The colon-separated segments of an ARN (at most six; the last keeps its colons)."""
    return text.split(":", ARN_SEGMENTS - 1)


def arn_match(segments: Sequence[Sequence[Item]], value: str) -> bool:
    """Match a pattern already split into ARN segments (each compiled to items) against an ARN.

    One segment (``*``, or a pattern with no colon) is matched against the whole value. A
    pattern of six segments needs a six-segment value and matches segment by segment. A pattern
    with two to five segments matches its leading segments one by one and its last segment
    against the rest of the value, colons included (``arn:aws:ecr:*`` covers every ECR ARN).
    """
    count = len(segments)
    if count == 0:
        return False
    if count == 1:
        return glob_match(segments[0], value)
    parts = split_arn(value)
    if count == ARN_SEGMENTS:
        if len(parts) != ARN_SEGMENTS:
            return False
        return all(glob_match(seg, part) for seg, part in zip(segments, parts))
    if len(parts) < count:
        return False
    head = parts[: count - 1]
    tail = ":".join(parts[count - 1:])
    return all(glob_match(seg, part) for seg, part in zip(segments, head)) and glob_match(
        segments[-1], tail
    )


@lru_cache(maxsize=4096)
def compile_arn(pattern: str) -> tuple:
    return tuple(glob_items(segment) for segment in split_arn(pattern))


def arn_like(pattern: str, value: str) -> bool:
    """``ArnLike``-style matching of a plain pattern (no policy variables)."""
    return arn_match(compile_arn(pattern), value)


def arn_account(arn: str) -> str | None:
    """The account segment of an ARN, or None if ``arn`` is not an ARN or has no account."""
    parts = split_arn(arn)
    if len(parts) != ARN_SEGMENTS or parts[0] != "arn" or not parts[4]:
        return None
    return parts[4]
