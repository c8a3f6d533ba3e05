"""Who is calling: registry tokens (HTTP Basic ``AWS:<token>``) and the access keys behind
them and behind SigV4 signatures, resolved to a ``Caller`` with its identity policies."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from ..keys.master import MasterKey
from ..storage.metadata import identities as rows
from ..storage.metadata import roles as role_rows
from ..storage.metadata.database import Tx
from ..storage.metadata.generation_cache import cached
from .identities import key_context
from .policy import Policy, Principal, parse_policy
from .sigv4 import ExpiredToken
from .tokens import TokenError, TokenService

SESSION_POLICY = "session policy"  # the name session policies are parsed under
SESSION_KEY_PREFIX = "ASIA"  # temporary credentials' access key ids, as STS makes them
SESSIONS_KEPT = 10_000  # session records kept in memory per process
_GENERATION = object()  # the key, in a generation's entries, of the object standing for it


class Unauthenticated(Exception):
    """No usable credentials; the message says why without echoing them."""


@dataclass(frozen=True)
class Session:
    """What STS recorded of temporary credentials."""
    issued_at: float
    expires_at: float
    policies: tuple[Policy, ...] = ()  # session policies: they only ever narrow
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()

    def context_keys(self) -> dict:
        """The condition keys a request made with the session carries."""
        keys: dict = {"aws:TokenIssueTime": datetime.fromtimestamp(self.issued_at,
                                                                   timezone.utc),
                      "aws:SourceIdentity": self.source_identity}
        for key, value in self.tags:
            keys[f"aws:PrincipalTag/{key}"] = value
        return keys


@dataclass(frozen=True)
class Caller:
    principal: Principal
    access_key_id: str
    policies: tuple[Policy, ...]
    is_admin: bool  # belongs to the administrator account
    session: Session | None = None  # temporary credentials

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    @property
    def expires_at(self) -> float | None:
        return None if self.session is None else self.session.expires_at


@dataclass(frozen=True)
class _KeyRecord:
    caller: Caller
    active: bool
    tokens_valid_after: float
    sealed_secret: bytes
    token_sha256: str | None = None  # temporary credentials: their session token's


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
        self._sessions: OrderedDict[tuple, _KeyRecord | None] = OrderedDict()
        self._lock = threading.Lock()

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
        if _lapsed(record, now):
            raise Unauthenticated("the credentials that minted the registry token have expired")
        return record.caller, claims.region

    def secret(self, tx: Tx, entries: dict, key_id: str,
               session_token: str | None = None) -> tuple[str, Caller] | None:
        """For SigV4: the key's secret and caller, or None for an unknown or inactive key, or
        a session token that is not the credentials' own (temporary credentials need theirs,
        long-term keys none). ExpiredToken for lapsed temporary credentials."""
        record = self.key(tx, entries, key_id)
        if record is None or not record.active or not _token_matches(record, session_token):
            return None
        if _lapsed(record):
            raise ExpiredToken()
        if record.token_sha256 is not None:  # temporary: not kept beyond its record
            return self._open(record, key_id), record.caller
        secret = cached(entries, ("secret", key_id), lambda: self._open(record, key_id))
        return secret, record.caller

    def holder(self, tx: Tx, entries: dict, key_id: str) -> Caller | None:
        """The caller an access key stands for, if it is active (and unexpired) now."""
        record = self.key(tx, entries, key_id)
        if record is None or not record.active or _lapsed(record):
            return None
        return record.caller

    def _open(self, record: _KeyRecord, key_id: str) -> str:
        return self.master.open(record.sealed_secret, key_context(key_id)).decode()

    def key(self, tx: Tx, entries: dict, key_id: str) -> _KeyRecord | None:
        if key_id.startswith(SESSION_KEY_PREFIX):
            return self._session(tx, entries, key_id)
        return cached(entries, ("key", key_id), lambda: _load_key(tx, key_id))

    def _session(self, tx: Tx, entries: dict, key_id: str) -> _KeyRecord | None:
        """Temporary credentials' records, the most recently used kept (new ones come all
        day without changing the iam generation, so the generation's dict cannot hold them)."""
        generation = entries.setdefault(_GENERATION, object())  # stands for this generation
        wanted = (generation, key_id)
        with self._lock:
            if wanted in self._sessions:
                self._sessions.move_to_end(wanted)
                return self._sessions[wanted]
        record = _load_session(tx, key_id)
        with self._lock:
            self._sessions[wanted] = record
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)
        return record


def _token_matches(record: _KeyRecord, token: str | None) -> bool:
    if record.token_sha256 is None or token is None:
        return record.token_sha256 is None and token is None
    return hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), record.token_sha256)


def _lapsed(record: _KeyRecord, now: float | None = None) -> bool:
    expires = record.caller.expires_at
    return expires is not None and (time.time() if now is None else now) >= expires


def _load_key(tx: Tx, key_id: str) -> _KeyRecord | None:
    row = rows.get_key(tx, key_id, with_secret=True)
    if row is None:
        return None
    account = rows.find_account(tx, "id", row.account_id)
    if row.user_id is None:
        caller = Caller(Principal.root(row.account_id), key_id, (), bool(account.is_admin))
    else:
        caller = user_caller(tx, row.user_id, key_id)
    return _KeyRecord(caller, bool(row.active), row.tokens_valid_after, bytes(row.secret))


def user_caller(tx: Tx, user_id: str, key_id: str = "") -> Caller | None:
    """A user as a caller, with its identity policies (None once the user is gone)."""
    user = rows.user_by_id(tx, user_id)
    if user is None:
        return None
    account = rows.find_account(tx, "id", user.account_id)
    principal = Principal.user(user.account_id, user.name, path=user.path, userid=user.id)
    policies = tuple(_identity_policy(p.name, p.document) for p in rows.list_policies(tx, user.id))
    return Caller(principal, key_id, policies, bool(account.is_admin))


@lru_cache(maxsize=1024)
def _identity_policy(name: str, document: str) -> Policy:
    return parse_policy(document, kind="identity", name=name)


def _load_session(tx: Tx, key_id: str) -> _KeyRecord | None:
    """Temporary credentials: a role's session (the role's policies, narrowed by the session's
    own), or a user's or root's GetSessionToken session (theirs). None once the role, user or
    account is gone."""
    row = role_rows.get_session(tx, key_id)
    if row is None:
        return None
    account = rows.find_account(tx, "id", row.account_id)
    if row.role_id is not None:
        role = role_rows.role_by_id(tx, row.role_id)
        if role is None:
            return None
        principal = Principal.assumed_role(row.account_id, role.name, row.session_name,
                                           role_path=role.path, role_id=role.id)
        policies = tuple(_identity_policy(p.name, p.document)
                         for p in role_rows.list_policies(tx, role.id))
    elif row.user_id is not None:
        user = rows.user_by_id(tx, row.user_id)
        if user is None:
            return None
        principal = Principal.user(user.account_id, user.name, path=user.path, userid=user.id)
        policies = tuple(_identity_policy(p.name, p.document)
                         for p in rows.list_policies(tx, user.id))
    else:
        principal, policies = Principal.root(row.account_id), ()
    details = json.loads(row.details)
    session = Session(
        row.issued_at, row.expires_at,
        tuple(_identity_policy(SESSION_POLICY, text) for text in details.get("policies", ())),
        details.get("sourceIdentity"), tuple(tuple(t) for t in details.get("tags", ())),
        tuple(details.get("transitiveTagKeys", ())))
    caller = Caller(principal, key_id, policies, bool(account.is_admin), session)
    return _KeyRecord(caller, True, 0.0, bytes(row.secret), row.token_sha256)
