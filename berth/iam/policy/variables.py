"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``, ``${*}``.

Variables exist only in policies whose ``Version`` is ``2012-10-17``; in older (or versionless)
policies the text is literal. A template is parsed into pieces: literal text, a variable (a
condition key name with an optional quoted default) and the escapes ``${*}``, ``${?}`` and
``${$}``, which stand for a literal ``*``, ``?`` and ``$``. Rendering looks each variable up in
the request context; the substituted value is always literal (a ``*`` in a user name is not a
wildcard). A variable with no value and no default makes the template unresolvable: IAM then
treats the statement as not matching (see ``Unresolved``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence, Union

from .matching import QMARK, STAR, Item

_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"^\s*([^\s,'{}$]+)\s*(?:,\s*'([^']*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None = None


@dataclass(frozen=True)
class Escaped:
    char: str


Piece = Union[str, Variable, Escaped]
Resolver = Callable[[str], "str | None"]


class Unresolved(LookupError):
    """A policy variable had no value in the request and no default."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@lru_cache(maxsize=4096)
def parse_template(text: str, enabled: bool = True) -> tuple[Piece, ...]:
    if not enabled or "${" not in text:
        return (text,)
    pieces: list[Piece] = []
    pos = 0
    for match in _REFERENCE.finditer(text):
        inner = match.group(1)
        if inner in _ESCAPES:
            piece: Piece = Escaped(_ESCAPES[inner])
        else:
            named = _NAME_AND_DEFAULT.match(inner)
            if named is None:
                continue  # not a variable reference: leave it as literal text
            piece = Variable(named.group(1), named.group(2))
        if match.start() > pos:
            pieces.append(text[pos:match.start()])
        pieces.append(piece)
        pos = match.end()
    if pos < len(text):
        pieces.append(text[pos:])
    return tuple(pieces)


def has_variables(pieces: Sequence[Piece]) -> bool:
    return any(isinstance(piece, Variable) for piece in pieces)


def variable_names(text: str) -> list[str]:
    return [p.name for p in parse_template(text) if isinstance(p, Variable)]


def split_pieces(pieces: Sequence[Piece], sep: str, maxsplit: int) -> list[tuple[Piece, ...]]:
    """Split on ``sep`` occurring in literal text only (never inside ``${...}``)."""
    parts: list[list[Piece]] = [[]]
    splits = 0
    for piece in pieces:
        if not isinstance(piece, str):
            parts[-1].append(piece)
            continue
        rest = piece
        while splits < maxsplit and sep in rest:
            before, rest = rest.split(sep, 1)
            if before:
                parts[-1].append(before)
            parts.append([])
            splits += 1
        if rest:
            parts[-1].append(rest)
    return [tuple(part) for part in parts]


def _resolve(piece: Variable, resolve: Resolver) -> str:
    value = resolve(piece.name)
    if value is None:
        if piece.default is None:
            raise Unresolved(piece.name)
        return piece.default
    return value


def render_items(
    pieces: Sequence[Piece], resolve: Resolver, *, wildcards: bool, lower: bool = False
) -> tuple[Item, ...]:
    """Match items for a template: literal text keeps its wildcards if ``wildcards``;
    substituted values and escapes are always literal. Raises ``Unresolved``."""
    items: list[Item] = []
    for piece in pieces:
        if isinstance(piece, str):
            text = piece.lower() if lower else piece
            if wildcards:
                items.extend(STAR if ch == "*" else QMARK if ch == "?" else ch for ch in text)
            else:
                items.extend(text)
        elif isinstance(piece, Escaped):
            items.append(piece.char)
        else:
            value = _resolve(piece, resolve)
            items.extend(value.lower() if lower else value)
    return tuple(items)


def render_text(pieces: Sequence[Piece], resolve: Resolver) -> str:
    """The template with variables substituted, as plain text. Raises ``Unresolved``."""
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif isinstance(piece, Escaped):
            out.append(piece.char)
        else:
            out.append(_resolve(piece, resolve))
    return "".join(out)
