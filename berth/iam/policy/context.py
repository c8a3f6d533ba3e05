"""The request context a policy is evaluated against: who (``Principal``), what (action),
on which resource, and the condition keys.

Condition key names are case-insensitive (``aws:SourceIp`` is ``AWS:sourceip``), tag keys
included. A few global keys are derived from the principal and the resource unless the caller
supplies them: ``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:PrincipalType``,
``aws:userid``, ``aws:username`` (IAM users only), ``aws:ResourceAccount``, and
``aws:CurrentTime`` / ``aws:EpochTime`` (the moment the context was built).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .matching import arn_account, split_arn

PRINCIPAL_KINDS = ("root", "user", "assumed-role", "role", "federated-user", "service", "anonymous")

_PRINCIPAL_TYPES = {
    "root": "Account",
    "user": "User",
    "assumed-role": "AssumedRole",
    "role": "AssumedRole",
    "federated-user": "FederatedUser",
    "service": "Service",
    "anonymous": "Anonymous",
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller.

    ``kind`` is one of ``PRINCIPAL_KINDS``. ``arn`` is the caller's own ARN (for a role session,
    the ``arn:aws:sts::...:assumed-role/ROLE/SESSION`` ARN; for a service, its service principal
    name such as ``ecs.amazonaws.com``). ``role_arn`` is the IAM role a session belongs to.
    The class methods build the usual shapes.
    """

    kind: str
    account_id: str | None = None
    arn: str | None = None
    username: str | None = None
    userid: str | None = None
    role_arn: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRINCIPAL_KINDS:
            raise ValueError(f"principal kind must be one of {', '.join(PRINCIPAL_KINDS)}")
        if self.kind in ("anonymous", "service"):
            if self.account_id is not None:
                raise ValueError(f"a {self.kind} principal has no account")
        elif not self.account_id or not self.arn:
            raise ValueError(f"a {self.kind} principal needs an account_id and an arn")

    @classmethod
    def root(cls, account_id: str, partition: str = "aws") -> "Principal":
        return cls("root", account_id, f"arn:{partition}:iam::{account_id}:root", userid=account_id)

    @classmethod
    def user(
        cls, account_id: str, name: str, *, path: str = "/", userid: str | None = None,
        partition: str = "aws",
    ) -> "Principal":
        return cls(
            "user", account_id, f"arn:{partition}:iam::{account_id}:user{path}{name}",
            username=name, userid=userid,
        )

    @classmethod
    def assumed_role(
        cls, account_id: str, role_name: str, session_name: str, *, role_path: str = "/",
        role_id: str | None = None, partition: str = "aws",
    ) -> "Principal":
        return cls(
            "assumed-role", account_id,
            f"arn:{partition}:sts::{account_id}:assumed-role/{role_name}/{session_name}",
            userid=f"{role_id}:{session_name}" if role_id else None,
            role_arn=f"arn:{partition}:iam::{account_id}:role{role_path}{role_name}",
        )

    @classmethod
    def service(cls, name: str) -> "Principal":
        return cls("service", None, name)

    @classmethod
    def anonymous(cls) -> "Principal":
        return cls("anonymous")

    @property
    def partition(self) -> str:
        if self.arn and self.arn.startswith("arn:"):
            parts = split_arn(self.arn)
            if len(parts) > 1 and parts[1]:
                return parts[1]
        return "aws"

    @property
    def root_arn(self) -> str | None:
        if self.account_id is None:
            return None
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    @property
    def principal_type(self) -> str:
        return _PRINCIPAL_TYPES[self.kind]

    @property
    def principal_arn(self) -> str | None:
        """``aws:PrincipalArn``: for a role session, the role's ARN (not the session's)."""
        if self.kind == "assumed-role" and self.role_arn:
            return self.role_arn
        if self.kind in ("anonymous", "service"):
            return None
        return self.arn

    def identities(self) -> tuple[str, ...]:
        """The chain IAM checks a ``NotPrincipal`` against: the account, then the role (for a
        session), then the caller itself."""
        if self.kind in ("anonymous",):
            return ()
        if self.kind == "service":
            return (self.arn,) if self.arn else ()
        chain = [self.root_arn]
        if self.kind == "assumed-role" and self.role_arn:
            chain.append(self.role_arn)
        if self.arn and self.arn not in chain:
            chain.append(self.arn)
        return tuple(a for a in chain if a)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class RequestContext:
    """What is being asked. ``keys`` maps condition key names (any case) to values: a string,
    bool, number, datetime, ``ipaddress`` address, bytes, or a list/tuple/set of those for a
    multivalued key such as ``aws:TagKeys``. A key mapped to None or an empty collection is
    absent. ``resource_account`` defaults to the account segment of ``resource``."""

    principal: Principal
    action: str
    resource: str
    resource_account: str | None = None
    keys: Mapping[str, Any] = field(default_factory=dict, hash=False)
    _lookup: Mapping[str, Any] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, str) or ":" not in self.action:
            raise ValueError("action must be 'service:Action'")
        if self.resource_account is None:
            object.__setattr__(self, "resource_account", arn_account(self.resource))
        lookup: dict[str, Any] = {k.lower(): v for k, v in self._derived().items() if v is not None}
        seen: dict[str, str] = {}
        for key, value in self.keys.items():
            folded = key.lower()
            if folded in seen:
                raise ValueError(f"condition keys {seen[folded]!r} and {key!r} differ only in case")
            seen[folded] = key
            lookup[folded] = value
        object.__setattr__(self, "_lookup", lookup)

    def _derived(self) -> dict[str, Any]:
        p = self.principal
        now = datetime.now(timezone.utc)
        supplied = {k.lower(): v for k, v in self.keys.items()}
        current = supplied.get("aws:currenttime")
        if isinstance(current, datetime):
            now = _as_utc(current)
        return {
            "aws:PrincipalAccount": p.account_id,
            "aws:PrincipalArn": p.principal_arn,
            "aws:PrincipalType": p.principal_type,
            "aws:userid": p.userid,
            "aws:username": p.username if p.kind == "user" else None,
            "aws:ResourceAccount": self.resource_account,
            "aws:CurrentTime": now,
            "aws:EpochTime": int(now.timestamp()),
        }

    def get(self, key: str) -> Any:
        """The value of a condition key (case-insensitive name), or None if absent."""
        value = self._lookup.get(key.lower())
        if isinstance(value, (list, tuple, set, frozenset)) and not value:
            return None
        return value

    def values(self, key: str) -> list[Any] | None:
        """The key's values as a list (one element for a single-valued key); None if absent."""
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, (list, tuple, set, frozenset)):
            return [v for v in value]
        return [value]

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def variable(self, name: str) -> str | None:
        """The text a policy variable ``${name}`` stands for: None if the key is absent or
        multivalued (multivalued keys cannot be policy variables)."""
        value = self.get(name)
        if value is None or isinstance(value, (list, tuple, set, frozenset)):
            return None
        return as_text(value)


def as_text(value: Any) -> str:
    """A context value as the string IAM would compare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
