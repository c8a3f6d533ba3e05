"""IAM roles: an identity with no long-term key, taken on through STS (berth/iam/sessions.py)
by whoever its trust policy admits, with inline identity policies of its own.

As for users, every change bumps the "iam" generation inside its transaction, so every node
drops what it derived (callers of the role's sessions) at once."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from ..storage.metadata import identities as identity_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import roles as rows
from ..storage.metadata.database import Database, Tx
from .identities import IdentityError, new_id
from .policy import parse_policy

IAM_GENERATION = registry_rows.IAM_GENERATION
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]{0,510}/")
ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role(/(?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})",
                      re.ASCII)
DEFAULT_MAX_SESSION, LONGEST_MAX_SESSION = 3600, 43200  # IAM's MaxSessionDuration range
DESCRIPTION_MAX = 1000
TRUST_POLICY_MAX = 2048  # IAM's default quota for a role trust policy's length
ROLES_PER_ACCOUNT = 1000  # IAM's default quota


@dataclass(frozen=True)
class Role:
    id: str
    account_id: str
    name: str
    path: str
    trust_policy: str
    description: str | None
    max_session_seconds: int
    created_at: float

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"


def _invalid(message: str) -> IdentityError:
    return IdentityError("ValidationError", message)


def _not_found(message: str) -> IdentityError:
    return IdentityError("NoSuchEntity", message)


def check_trust_policy(document: str) -> None:
    """A trust policy is a resource-based policy (it names principals); PolicyError if not."""
    if len(document) > TRUST_POLICY_MAX:
        raise IdentityError("LimitExceeded", f"Cannot exceed quota for ACLSizePerRole: "
                                             f"{TRUST_POLICY_MAX}")
    parse_policy(document, kind="resource", name="AssumeRolePolicyDocument")


def _check_settings(description: str | None, max_session_seconds: int) -> None:
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise _invalid(f"the description is longer than {DESCRIPTION_MAX} characters")
    if not DEFAULT_MAX_SESSION <= max_session_seconds <= LONGEST_MAX_SESSION:
        raise _invalid(f"The requested MaxSessionDuration {max_session_seconds} must be "
                       f"between {DEFAULT_MAX_SESSION} and {LONGEST_MAX_SESSION} seconds")


class RoleService:
    def __init__(self, db: Database):
        self.db = db

    def create(self, account_id: str, name: str, trust_policy: str, path: str = "/",
               description: str | None = None,
               max_session_seconds: int = DEFAULT_MAX_SESSION) -> Role:
        if not _ROLE_NAME.fullmatch(name or ""):
            raise _invalid(f"invalid role name {name!r}")
        if not _PATH.fullmatch(path or ""):
            raise _invalid(f"invalid path {path!r}: it must start and end with /")
        _check_settings(description, max_session_seconds)
        check_trust_policy(trust_policy)
        role = Role(new_id("AROA", 17), account_id, name, path, trust_policy, description,
                    max_session_seconds, time.time())
        with self.db.write() as tx:
            _require_account(tx, account_id)
            if _find(tx, account_id, name, case_blind=True) is not None:
                raise IdentityError("EntityAlreadyExists",
                                    f"Role with name {name} already exists.")
            if len(rows.list_roles(tx, account_id)) >= ROLES_PER_ACCOUNT:
                raise IdentityError("LimitExceeded", f"Cannot exceed quota for "
                                                     f"RolesPerAccount: {ROLES_PER_ACCOUNT}")
            rows.insert_role(tx, role.__dict__)
            registry_rows.bump(tx, IAM_GENERATION)
        return role

    def get(self, account_id: str, name: str) -> Role:
        with self.db.read() as tx:
            return require_role(tx, account_id, name)

    def list(self, account_id: str) -> list[Role]:
        with self.db.read() as tx:
            _require_account(tx, account_id)
            return [Role(*row) for row in rows.list_roles(tx, account_id)]

    def update(self, account_id: str, name: str, *, trust_policy: str | None = None,
               description: str | None = None,
               max_session_seconds: int | None = None) -> Role:
        """UpdateRole and UpdateAssumeRolePolicy: what is given changes, the rest stays."""
        if trust_policy is not None:
            check_trust_policy(trust_policy)
        with self.db.write() as tx:
            role = require_role(tx, account_id, name)
            changed = Role(role.id, role.account_id, role.name, role.path,
                           trust_policy if trust_policy is not None else role.trust_policy,
                           description if description is not None else role.description,
                           max_session_seconds or role.max_session_seconds, role.created_at)
            _check_settings(changed.description, changed.max_session_seconds)
            rows.set_role(tx, role.id, changed.trust_policy, changed.description,
                          changed.max_session_seconds)
            registry_rows.bump(tx, IAM_GENERATION)
        return changed

    def delete(self, account_id: str, name: str) -> None:
        """The role, its inline policies and its sessions (which stop working at once)."""
        with self.db.write() as tx:
            role = require_role(tx, account_id, name)
            rows.delete_role(tx, role.id)
            registry_rows.bump(tx, IAM_GENERATION)

    # -- inline identity policies ------------------------------------------------------------
    def put_policy(self, account_id: str, name: str, policy_name: str, document: str) -> None:
        if not _POLICY_NAME.fullmatch(policy_name or ""):
            raise _invalid(f"invalid policy name {policy_name!r}")
        parse_policy(document, kind="identity", name=policy_name)
        with self.db.write() as tx:
            role = require_role(tx, account_id, name)
            rows.put_policy(tx, role.id, policy_name, document)
            registry_rows.bump(tx, IAM_GENERATION)

    def policies(self, account_id: str, name: str) -> dict[str, dict]:
        with self.db.read() as tx:
            role = require_role(tx, account_id, name)
            return {row.name: json.loads(row.document)
                    for row in rows.list_policies(tx, role.id)}

    def delete_policy(self, account_id: str, name: str, policy_name: str) -> None:
        with self.db.write() as tx:
            role = require_role(tx, account_id, name)
            if not rows.delete_policy(tx, role.id, policy_name):
                raise _not_found(f"The role policy with name {policy_name} cannot be found.")
            registry_rows.bump(tx, IAM_GENERATION)


def _find(tx: Tx, account_id: str, name: str, case_blind: bool = False):
    if not case_blind:
        return rows.find_role(tx, account_id, name)
    # IAM role names are unique regardless of case.
    return next((row for row in rows.list_roles(tx, account_id)
                 if row.name.lower() == name.lower()), None)


def require_role(tx: Tx, account_id: str, name: str) -> Role:
    row = _find(tx, account_id, name)
    if row is None:
        raise _not_found(f"The role with name {name} cannot be found.")
    return Role(*row)


def _require_account(tx: Tx, account_id: str) -> None:
    if identity_rows.find_account(tx, "id", account_id) is None:
        raise _not_found(f"account {account_id!r} does not exist")
