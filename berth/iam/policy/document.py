"""Policy documents: parsing and validating JSON into frozen dataclasses.

``parse_policy(text_or_dict, kind="identity"|"resource")`` accepts what IAM accepts and
rejects the rest with a ``PolicyError`` that names the place (``Statement[1].Effect: ...``).
Element names are case-sensitive, as in IAM; condition operator names are not.

Identity-based policies may not name a principal and need ``Resource`` or ``NotResource`` in
every statement. Resource-based policies (an ECR repository policy) need ``Principal`` or
``NotPrincipal`` in every statement and may leave out the resource: the statement then covers
the resource the policy is attached to.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping

from .conditions import Operator, parse_operator, validate_value
from .errors import PolicyError

VERSIONS = ("2012-10-17", "2008-10-17")
VARIABLES_VERSION = "2012-10-17"
KINDS = ("identity", "resource")

_TOP_LEVEL = ("Version", "Id", "Statement")
_STATEMENT_KEYS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                   "Resource", "NotResource", "Condition")
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:[a-z0-9-]+:(iam|sts)::(\d{12}):.+$")
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}$")
_ACTION = re.compile(r"^[A-Za-z0-9*?-]+:[A-Za-z0-9*?_.-]+$")
_IAM_SID = re.compile(r"^[A-Za-z0-9]*$")


class Effect(str, Enum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class PrincipalElement:
    """A ``Principal`` or ``NotPrincipal``: ``everyone`` for the bare ``"*"``, otherwise
    ``(type, value)`` pairs such as ``("AWS", "123456789012")``."""

    everyone: bool = False
    entries: tuple[tuple[str, str], ...] = ()

    def values(self, principal_type: str) -> tuple[str, ...]:
        return tuple(v for t, v in self.entries if t == principal_type)


@dataclass(frozen=True)
class Condition:
    """One operator applied to one condition key: ``values`` are OR-ed (NOR when negated)."""

    operator: Operator
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    index: int
    effect: Effect
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principal: PrincipalElement | None = None
    not_principal: PrincipalElement | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        return f"Statement[{self.index}]" + (f" ({self.sid})" if self.sid else "")


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    kind: str = "identity"
    version: str | None = None
    id: str | None = None
    name: str | None = None

    @property
    def variables_enabled(self) -> bool:
        """Policy variables are substituted only under Version 2012-10-17."""
        return self.version == VARIABLES_VERSION

    @property
    def label(self) -> str:
        return self.name or self.id or f"{self.kind} policy"


def parse_policy(
    document: str | bytes | Mapping[str, Any], *, kind: str = "identity", name: str | None = None
) -> Policy:
    """Parse and validate a policy document (JSON text or an already-decoded mapping).

    ``kind`` is ``"identity"`` (attached to a user, group or role) or ``"resource"`` (attached
    to a resource, such as an ECR repository policy). ``name`` labels the policy in decisions.
    Raises ``PolicyError``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    data = _decode(document)
    for key in data:
        if key not in _TOP_LEVEL:
            raise PolicyError.at(key, _unknown_key(key, _TOP_LEVEL, "policy element"))
    version = data.get("Version")
    if "Version" in data and version not in VERSIONS:
        raise PolicyError.at("Version", f"must be one of {_quoted(VERSIONS)}, got {version!r}")
    policy_id = data.get("Id")
    if "Id" in data and not isinstance(policy_id, str):
        raise PolicyError.at("Id", "must be a string")
    if "Statement" not in data:
        raise PolicyError.at("Statement", "is required")
    raw = data["Statement"]
    if isinstance(raw, Mapping):
        items = [("Statement", raw)]
    elif isinstance(raw, list):
        if not raw:
            raise PolicyError.at("Statement", "must contain at least one statement")
        items = [(f"Statement[{i}]", s) for i, s in enumerate(raw)]
    else:
        raise PolicyError.at("Statement", "must be an object or a list of objects")
    parser = _StatementParser(kind, variables=version == VARIABLES_VERSION)
    statements = tuple(parser.parse(i, path, item) for i, (path, item) in enumerate(items))
    _check_sids(statements, items, kind)
    return Policy(statements, kind, version, policy_id, name)


def _decode(document: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        return document
    if isinstance(document, (bytes, bytearray)):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError.at("", "policy document is not UTF-8") from None
    if not isinstance(document, str):
        raise PolicyError.at("", "policy document must be JSON text or a mapping")
    try:
        data = json.loads(document, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise PolicyError.at(
            "", f"policy document is not valid JSON: {exc.msg} at line {exc.lineno} "
                f"column {exc.colno}") from None
    except _DuplicateKey as exc:
        raise PolicyError.at("", f"policy document has the key {exc.key!r} twice in one object"
                             ) from None
    if not isinstance(data, dict):
        raise PolicyError.at("", "policy document must be a JSON object")
    return data


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _unknown_key(key: str, allowed: Iterable[str], what: str) -> str:
    for name in allowed:
        if name.lower() == key.lower():
            return f"unknown {what} {key!r} (element names are case-sensitive: {name!r})"
    return f"unknown {what} {key!r} (expected one of {_quoted(allowed)})"


def _strings(path: str, value: Any, what: str) -> list[tuple[str, str]]:
    """A string or a non-empty list of strings, each with its own path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        if not value:
            raise PolicyError.at(path, f"must be a {what} or a non-empty list of them")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise PolicyError.at(f"{path}[{i}]", f"must be a {what}")
            out.append((f"{path}[{i}]", item))
        return out
    raise PolicyError.at(path, f"must be a {what} or a list of them")


def _scalar(value: Any) -> str | None:
    """A condition value as text: strings as they are, booleans as true/false, numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return None


class _StatementParser:
    def __init__(self, kind: str, variables: bool):
        self.kind = kind
        self.variables = variables

    def parse(self, index: int, path: str, raw: Any) -> Statement:
        if not isinstance(raw, Mapping):
            raise PolicyError.at(path, "must be an object")
        for key in raw:
            if key not in _STATEMENT_KEYS:
                raise PolicyError.at(f"{path}.{key}",
                                     _unknown_key(key, _STATEMENT_KEYS, "statement element"))
        sid = raw.get("Sid")
        if "Sid" in raw and not isinstance(sid, str):
            raise PolicyError.at(f"{path}.Sid", "must be a string")
        effect = self._effect(path, raw)
        actions, not_actions = self._pair(path, raw, "Action", "NotAction", required=True)
        resources, not_resources = self._pair(
            path, raw, "Resource", "NotResource", required=self.kind == "identity")
        principal = not_principal = None
        if self.kind == "identity":
            for key in ("Principal", "NotPrincipal"):
                if key in raw:
                    raise PolicyError.at(f"{path}.{key}",
                                         "is not allowed in an identity-based policy")
        else:
            if "Principal" in raw and "NotPrincipal" in raw:
                raise PolicyError.at(path, "has both Principal and NotPrincipal; use one")
            if "Principal" not in raw and "NotPrincipal" not in raw:
                raise PolicyError.at(path, "needs a Principal or NotPrincipal in a "
                                           "resource-based policy")
            if "Principal" in raw:
                principal = self._principal(f"{path}.Principal", raw["Principal"])
            else:
                not_principal = self._principal(f"{path}.NotPrincipal", raw["NotPrincipal"])
        if sid is not None and self.kind == "identity" and not _IAM_SID.match(sid):
            raise PolicyError.at(f"{path}.Sid",
                                 "must contain only letters and digits in an identity policy")
        for values in (actions, not_actions):
            for item_path, action in values or ():
                if action != "*" and not _ACTION.match(action):
                    raise PolicyError.at(
                        item_path, f"action {action!r} must be '*' or 'service:ActionName'")
        for values in (resources, not_resources):
            for item_path, resource in values or ():
                if resource != "*" and not resource.startswith("arn:"):
                    raise PolicyError.at(item_path, f"resource {resource!r} must be '*' or an ARN")
        conditions = self._conditions(f"{path}.Condition", raw["Condition"]) \
            if "Condition" in raw else ()
        return Statement(
            index=index,
            effect=effect,
            sid=sid,
            actions=_texts(actions),
            not_actions=_texts(not_actions),
            resources=_texts(resources),
            not_resources=_texts(not_resources),
            principal=principal,
            not_principal=not_principal,
            conditions=conditions,
        )

    @staticmethod
    def _effect(path: str, raw: Mapping[str, Any]) -> Effect:
        if "Effect" not in raw:
            raise PolicyError.at(f"{path}.Effect", "is required")
        value = raw["Effect"]
        if value == "Allow":
            return Effect.ALLOW
        if value == "Deny":
            return Effect.DENY
        raise PolicyError.at(f"{path}.Effect", f"must be 'Allow' or 'Deny', got {value!r}")

    @staticmethod
    def _pair(path: str, raw: Mapping[str, Any], name: str, negated: str, *, required: bool):
        if name in raw and negated in raw:
            raise PolicyError.at(path, f"has both {name} and {negated}; use one")
        if name not in raw and negated not in raw:
            if required:
                raise PolicyError.at(path, f"needs {name} or {negated}")
            return None, None
        key = name if name in raw else negated
        values = _strings(f"{path}.{key}", raw[key], "string")
        return (values, None) if key == name else (None, values)

    def _principal(self, path: str, raw: Any) -> PrincipalElement:
        if isinstance(raw, str):
            if raw != "*":
                raise PolicyError.at(path, 'must be "*" or an object such as {"AWS": "..."}')
            return PrincipalElement(everyone=True)
        if not isinstance(raw, Mapping):
            raise PolicyError.at(path, 'must be "*" or an object such as {"AWS": "..."}')
        if not raw:
            raise PolicyError.at(path, "must name at least one principal")
        entries: list[tuple[str, str]] = []
        for ptype, value in raw.items():
            if ptype not in PRINCIPAL_TYPES:
                raise PolicyError.at(f"{path}.{ptype}",
                                     _unknown_key(ptype, PRINCIPAL_TYPES, "principal type"))
            for item_path, item in _strings(f"{path}.{ptype}", value, "string"):
                self._check_principal(item_path, ptype, item)
                entries.append((ptype, item))
        return PrincipalElement(entries=tuple(entries))

    @staticmethod
    def _check_principal(path: str, ptype: str, value: str) -> None:
        if not value:
            raise PolicyError.at(path, "must not be empty")
        if value != "*" and ("*" in value or "?" in value):
            raise PolicyError.at(path, f"{value!r}: a principal cannot contain wildcards "
                                       "(only \"*\" on its own, meaning everyone)")
        if ptype == "AWS" and value != "*" and not (
            _ACCOUNT_ID.match(value) or _IAM_ARN.match(value) or _UNIQUE_ID.match(value)
        ):
            raise PolicyError.at(path, f"{value!r} is not an AWS account ID, an IAM or STS "
                                       "ARN, or \"*\"")

    def _conditions(self, path: str, raw: Any) -> tuple[Condition, ...]:
        if not isinstance(raw, Mapping):
            raise PolicyError.at(path, "must be an object mapping condition operators to "
                                       "{key: value(s)} objects")
        out: list[Condition] = []
        for op_name, block in raw.items():
            op_path = f"{path}.{op_name}"
            try:
                operator = parse_operator(op_name)
            except ValueError as exc:
                raise PolicyError.at(op_path, str(exc)) from None
            if not isinstance(block, Mapping):
                raise PolicyError.at(op_path, "must be an object mapping condition keys to "
                                              "values")
            if not block:
                raise PolicyError.at(op_path, "must name at least one condition key")
            for key, value in block.items():
                key_path = f"{op_path}.{key}"
                if not key.strip():
                    raise PolicyError.at(key_path, "condition key must not be empty")
                values = self._condition_values(key_path, value)
                for item_path, text in values:
                    try:
                        validate_value(operator, text, self.variables)
                    except ValueError as exc:
                        raise PolicyError.at(item_path, f"invalid value for {operator.name}: "
                                                        f"{exc}") from None
                out.append(Condition(operator, key, tuple(text for _, text in values)))
        return tuple(out)

    @staticmethod
    def _condition_values(path: str, value: Any) -> list[tuple[str, str]]:
        message = "value must be a string (or number or boolean) or a non-empty list of them"
        if isinstance(value, list):
            if not value:
                raise PolicyError.at(path, message)
            out = []
            for i, item in enumerate(value):
                text = _scalar(item)
                if text is None:
                    raise PolicyError.at(f"{path}[{i}]", message)
                out.append((f"{path}[{i}]", text))
            return out
        text = _scalar(value)
        if text is None:
            raise PolicyError.at(path, message)
        return [(path, text)]


def _texts(values: list[tuple[str, str]] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v for _, v in values)


def _check_sids(statements: tuple[Statement, ...], items: list[tuple[str, Any]], kind: str
                ) -> None:
    """IAM requires Sids to be unique within an identity-based policy."""
    if kind != "identity":
        return
    seen: dict[str, str] = {}
    for statement, (path, _) in zip(statements, items):
        if statement.sid:
            if statement.sid in seen:
                raise PolicyError.at(f"{path}.Sid", f"duplicate Sid {statement.sid!r} (also "
                                                    f"used by {seen[statement.sid]})")
            seen[statement.sid] = path
