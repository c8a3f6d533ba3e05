"""Who is calling: registry tokens (HTTP Basic ``AWS:<token>``) and the access keys behind
them and behind SigV4 signatures, resolved to a ``Caller`` with its identity policies."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache

from ..keys.master import MasterKey
from ..storage.metadata import identities as rows
from ..storage.metadata.database import Tx
from ..storage.metadata.generation_cache import cached
from .identities import key_context
from .policy import Policy, Principal, parse_policy
from .tokens import TokenError, TokenService


class Unauthenticated(Exception):
    """No usable credentials; the message says why without echoing them."""


@dataclass(frozen=True)
class Caller:
    principal: Principal
    access_key_id: str
    policies: tuple[Policy, ...]
    is_admin: bool  # belongs to the administrator account

    @property
    def account_id(self) -> str:
        return self.principal.account_id


@dataclass(frozen=True)
class _KeyRecord:
    caller: Caller
    active: bool
    tokens_valid_after: float
    sealed_secret: bytes


def basic_token(header: str | None) -> str:
    """The token in ``Authorization: Basic base64(AWS:<token>)``."""
    if not header:
        raise Unauthenticated("authentication required")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated("use HTTP Basic authentication with user AWS and a token from "
                              "GetAuthorizationToken")
    try:
        user, sep, token = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthenticated("malformed Basic credentials") from None
    if not sep or user != "AWS":
        raise Unauthenticated("the user name must be AWS and the password a token from "
                              "GetAuthorizationToken")
    return token


class Authenticator:
    def __init__(self, master: MasterKey, tokens: TokenService):
        self.master = master
        self.tokens = tokens

    def from_token(self, tx: Tx, entries: dict, token: str, now: float | None = None) -> Caller:
        return self.identify(tx, entries, token, now)[0]

    def identify(self, tx: Tx, entries: dict, token: str, now: float | None = None
                 ) -> tuple[Caller, str | None]:
        """The token's caller and the region it was minted in (None: an older token)."""
        try:
            claims = self.tokens.verify(token, now)
        except TokenError as exc:
            raise Unauthenticated(str(exc)) from None
        record = self.key(tx, entries, claims.access_key_id)
        if record is None or not record.active or claims.issued_at < record.tokens_valid_after:
            raise Unauthenticated("the registry token has been revoked")
        return record.caller, claims.region

    def secret(self, tx: Tx, entries: dict, key_id: str) -> tuple[str, Caller] | None:
        """For SigV4: the key's secret and caller, or None for an unknown or inactive key."""
        record = self.key(tx, entries, key_id)
        if record is None or not record.active:
            return None
        secret = cached(entries, ("secret", key_id), lambda: self.master.open(
            record.sealed_secret, key_context(key_id)).decode())
        return secret, record.caller

    def key(self, tx: Tx, entries: dict, key_id: str) -> _KeyRecord | None:
        return cached(entries, ("key", key_id), lambda: _load_key(tx, key_id))


def _load_key(tx: Tx, key_id: str) -> _KeyRecord | None:
    row = rows.get_key(tx, key_id, with_secret=True)
    if row is None:
        return None
    account = rows.find_account(tx, "id", row.account_id)
    if row.user_id is None:
        principal, policies = Principal.root(row.account_id), ()
    else:
        user = rows.user_by_id(tx, row.user_id)
        principal = Principal.user(user.account_id, user.name, path=user.path, userid=user.id)
        policies = tuple(_identity_policy(p.name, p.document)
                         for p in rows.list_policies(tx, user.id))
    caller = Caller(principal, key_id, policies, bool(account.is_admin))
    return _KeyRecord(caller, bool(row.active), row.tokens_valid_after, bytes(row.secret))


@lru_cache(maxsize=1024)
def _identity_policy(name: str, document: str) -> Policy:
    return parse_policy(document, kind="identity", name=name)
