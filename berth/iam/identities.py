"""Accounts, users, access keys and identity policies: the administration side of IAM.

Every change bumps the "iam" generation inside its own transaction, which is how every node
learns that what it derived from identities (callers, policies) is stale."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from ..keys.master import MasterKey
from ..storage.metadata import identities as rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database, Tx
from .policy import parse_policy
from .tenancy import ACCOUNT_ID

IAM_GENERATION = registry_rows.IAM_GENERATION
# IAM's names are ASCII only.
_USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_ACCOUNT_NAME = re.compile(r"[\w+=,.@ -]{1,64}", re.ASCII)
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]{0,510}/")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class IdentityError(Exception):
    """A request about identities that cannot be done: ``code`` names it as IAM would."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _not_found(message: str) -> IdentityError:
    return IdentityError("NoSuchEntity", message)


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    is_admin: bool
    created_at: float


@dataclass(frozen=True)
class User:
    id: str
    account_id: str
    name: str
    path: str
    created_at: float

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"


@dataclass(frozen=True)
class AccessKey:
    id: str
    account_id: str
    user_name: str | None  # None: the account's root
    active: bool
    created_at: float
    secret: str | None = None  # only when just created


def new_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def key_context(key_id: str) -> str:
    return f"access-key:{key_id}"


class IdentityService:
    def __init__(self, db: Database, master: MasterKey):
        self.db = db
        self.master = master

    # -- accounts --------------------------------------------------------------------------
    def create_account(self, name: str, account_id: str | None = None,
                       is_admin: bool = False, tx: Tx | None = None) -> Account:
        if not _ACCOUNT_NAME.fullmatch(name or ""):
            raise IdentityError("ValidationError", f"invalid account name {name!r}")
        if account_id is not None and not ACCOUNT_ID.fullmatch(account_id):
            raise IdentityError("ValidationError", "an account id is 12 digits")
        account = Account(account_id or _new_account_id(), name, is_admin, time.time())
        with _maybe(self.db, tx) as tx:
            for by, value in (("id", account.id), ("name", name)):
                if rows.find_account(tx, by, value) is not None:
                    raise IdentityError("EntityAlreadyExists",
                                        f"an account with {by} {value!r} already exists")
            rows.insert_account(tx, account.__dict__)
            registry_rows.bump(tx, IAM_GENERATION)
        return account

    def accounts(self) -> list[Account]:
        with self.db.read() as tx:
            return [Account(*row) for row in rows.list_accounts(tx)]

    def account(self, account_id: str) -> Account:
        with self.db.read() as tx:
            return Account(*_require_account(tx, account_id))

    def admin_account(self) -> Account | None:
        with self.db.read() as tx:
            row = rows.find_account(tx, "admin", True)
        return None if row is None else Account(*row)

    # -- users -----------------------------------------------------------------------------
    def create_user(self, account_id: str, name: str, path: str = "/") -> User:
        if not _USER_NAME.fullmatch(name or ""):
            raise IdentityError("ValidationError", f"invalid user name {name!r}")
        if not _PATH.fullmatch(path or ""):
            raise IdentityError("ValidationError", f"invalid path {path!r}: it must start and "
                                                   "end with /")
        user = User(new_id("AIDA", 17), account_id, name, path, time.time())
        with self.db.write() as tx:
            _require_account(tx, account_id)
            if rows.find_user(tx, account_id, name) is not None:
                raise IdentityError("EntityAlreadyExists", f"user {name!r} already exists")
            rows.insert_user(tx, user.__dict__)
            registry_rows.bump(tx, IAM_GENERATION)
        return user

    def users(self, account_id: str) -> list[User]:
        with self.db.read() as tx:
            _require_account(tx, account_id)
            return [User(*row) for row in rows.list_users(tx, account_id)]

    def find_user(self, account_id: str, name: str) -> User | None:
        with self.db.read() as tx:
            row = rows.find_user(tx, account_id, name)
        return None if row is None else User(*row)

    def key_owner(self, account_id: str, key_id: str) -> User | None:
        """The user owning the account's key; None for a root key or an unknown one."""
        with self.db.read() as tx:
            key = rows.get_key(tx, key_id)
            if key is None or key.account_id != account_id or key.user_id is None:
                return None
            return User(*rows.user_by_id(tx, key.user_id))

    def delete_user(self, account_id: str, name: str) -> None:
        """Deletes the user with its keys and policies (IAM would insist they go first;
        an administrator tool that cleans up is kinder)."""
        with self.db.write() as tx:
            user = _require_user(tx, account_id, name)
            rows.delete_keys_of_user(tx, user.id)
            for policy in rows.list_policies(tx, user.id):
                rows.delete_policy(tx, user.id, policy.name)
            rows.delete_user(tx, user.id)
            registry_rows.bump(tx, IAM_GENERATION)

    # -- access keys -----------------------------------------------------------------------
    def create_access_key(self, account_id: str, user_name: str | None = None,
                          tx: Tx | None = None) -> AccessKey:
        """A new key for the user, or for the account's root when ``user_name`` is None.
        The returned key carries its secret; nothing can show the secret again."""
        key_id = new_id("AKIA", 16)
        secret = base64.b64encode(os.urandom(30)).decode()
        now = time.time()
        with _maybe(self.db, tx) as tx:
            _require_account(tx, account_id)
            user_id = _require_user(tx, account_id, user_name).id if user_name else None
            rows.insert_key(tx, {
                "id": key_id, "account_id": account_id, "user_id": user_id,
                "secret": self.master.seal(secret.encode(), key_context(key_id)),
                "active": True, "tokens_valid_after": 0.0, "created_at": now})
            registry_rows.bump(tx, IAM_GENERATION)
        return AccessKey(key_id, account_id, user_name, True, now, secret)

    def access_keys(self, account_id: str, user_name: str | None = None) -> list[AccessKey]:
        with self.db.read() as tx:
            _require_account(tx, account_id)
            user_id = _require_user(tx, account_id, user_name).id if user_name else None
            return [AccessKey(row.id, account_id, user_name, bool(row.active), row.created_at)
                    for row in rows.list_keys(tx, account_id, user_id)]

    def set_access_key_active(self, account_id: str, key_id: str, active: bool) -> None:
        """Deactivating a key also revokes every token it minted, for good."""
        with self.db.write() as tx:
            row = _require_key(tx, account_id, key_id)
            valid_after = row.tokens_valid_after if active else time.time()
            rows.set_key_state(tx, key_id, active, valid_after)
            registry_rows.bump(tx, IAM_GENERATION)

    def delete_access_key(self, account_id: str, key_id: str) -> None:
        with self.db.write() as tx:
            _require_key(tx, account_id, key_id)
            rows.delete_key(tx, key_id)
            registry_rows.bump(tx, IAM_GENERATION)

    # -- identity policies -----------------------------------------------------------------
    def put_user_policy(self, account_id: str, user_name: str, policy_name: str,
                        document: str) -> None:
        """Attach (or replace) an inline identity policy; a malformed one raises
        ``PolicyError`` naming what is wrong and where."""
        if not _POLICY_NAME.fullmatch(policy_name or ""):
            raise IdentityError("ValidationError", f"invalid policy name {policy_name!r}")
        parse_policy(document, kind="identity", name=policy_name)
        with self.db.write() as tx:
            user = _require_user(tx, account_id, user_name)
            rows.put_policy(tx, user.id, policy_name, document)
            registry_rows.bump(tx, IAM_GENERATION)

    def user_policies(self, account_id: str, user_name: str) -> dict[str, dict]:
        with self.db.read() as tx:
            user = _require_user(tx, account_id, user_name)
            return {row.name: json.loads(row.document)
                    for row in rows.list_policies(tx, user.id)}

    def delete_user_policy(self, account_id: str, user_name: str, policy_name: str) -> None:
        with self.db.write() as tx:
            user = _require_user(tx, account_id, user_name)
            if not rows.delete_policy(tx, user.id, policy_name):
                raise _not_found(f"user {user_name!r} has no policy {policy_name!r}")
            registry_rows.bump(tx, IAM_GENERATION)


def _maybe(db: Database, tx: Tx | None):
    """The caller's write transaction if it gave one, else a new one."""
    return contextlib.nullcontext(tx) if tx is not None else db.write()


def _new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def _require_account(tx: Tx, account_id: str):
    row = rows.find_account(tx, "id", account_id)
    if row is None:
        raise _not_found(f"account {account_id!r} does not exist")
    return row


def _require_user(tx: Tx, account_id: str, name: str):
    row = rows.find_user(tx, account_id, name)
    if row is None:
        raise _not_found(f"user {name!r} does not exist in account {account_id}")
    return User(*row)


def _require_key(tx: Tx, account_id: str, key_id: str):
    row = rows.get_key(tx, key_id)
    if row is None or row.account_id != account_id:
        raise _not_found(f"access key {key_id!r} does not exist in account {account_id}")
    return row
