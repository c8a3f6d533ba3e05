"""Temporary credentials, as STS issues them: AssumeRole (a role's session, for whoever the
role's trust policy admits and whose own policies allow sts:AssumeRole) and GetSessionToken
(a user's or root's own permissions, for a while). Each is an access key id (ASIA...), a
secret and a session token, kept as a row until it lapses (berth/iam/authentication.py
turns the row back into a caller)."""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from functools import lru_cache

from ..keys.master import MasterKey
from ..storage.metadata import identities as identity_rows
from ..storage.metadata import roles as rows
from ..storage.metadata.database import Database
from .authentication import SESSION_KEY_PREFIX, Caller
from .authorization import decide
from .identities import key_context, new_id
from .policy import Effect, Policy, PolicyError, RequestContext, parse_policy
from .policy import statement_applies
from .roles import ROLE_ARN, Role, require_role, IdentityError

ROLE_DEFAULT, CHAINED_MAX = 3600, 3600  # AssumeRole's default; role chaining's limit
USER_DEFAULT, USER_MAX, ROOT_MAX = 43200, 129600, 3600  # GetSessionToken's
SESSION_POLICY_MAX = 2048  # characters of an inline session policy
PACKED_MAX = 2048  # what policy and tags may take together, packed (Berth: plain length)
TAGS_MAX = 50
PRUNE_AFTER = 24 * 3600.0  # lapsed sessions are forgotten a day later


class StsError(Exception):
    """A request STS refuses; ``code`` as STS names it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float


@dataclass(frozen=True)
class AssumedRole:
    credentials: Credentials
    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    assumed_role_id: str  # <role id>:<session>
    packed_policy_size: int | None
    source_identity: str | None


@dataclass(frozen=True)
class Request:
    """AssumeRole's parameters, as the model names them."""
    role_arn: str
    session_name: str
    duration: int | None = None
    external_id: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()


class SessionService:
    def __init__(self, db: Database, master: MasterKey):
        self.db, self.master = db, master

    def assume_role(self, caller: Caller, request: Request, action: str = "sts:AssumeRole",
                    keys: dict | None = None) -> AssumedRole:
        """A session of the role for ``caller``; ``action`` and ``keys`` (condition keys) for
        the ways in other than AssumeRole (web identities: berth/iam/federation.py)."""
        if caller.principal.kind == "root":
            raise StsError("AccessDenied", "Roles may not be assumed by root accounts.")
        _check_tags(request)  # the request's own form, before its condition keys are built
        role = self._role(caller, request.role_arn)
        # Authorized first: a caller the role does not admit learns nothing of its settings.
        self._authorize(caller, role, request, action, keys or {})
        duration = _role_duration(caller, role, request.duration)
        policies = _session_policies(request)
        tags, transitive = _tags(caller, request)
        source = _source_identity(caller, request.source_identity)
        packed = _packed_size(policies, tags) if policies or tags else None
        details = {"policies": policies, "sourceIdentity": source, "tags": tags,
                   "transitiveTagKeys": transitive}
        credentials = self._issue(role.account_id, duration, details, role_id=role.id,
                                  session_name=request.session_name)
        return AssumedRole(
            credentials, f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/"
            f"{request.session_name}", f"{role.id}:{request.session_name}", packed, source)

    def session_token(self, caller: Caller, duration: int | None = None) -> Credentials:
        """The caller's own permissions under temporary credentials (a root's last an hour
        at most, as STS has it)."""
        if caller.session is not None:
            raise StsError("AccessDenied", "Cannot call GetSessionToken with session "
                                           "credentials")
        root = caller.principal.kind == "root"
        duration = duration or (ROOT_MAX if root else USER_DEFAULT)
        if not 900 <= duration <= USER_MAX:
            raise _invalid(f"Value '{duration}' at 'durationSeconds' failed to satisfy "
                           f"constraint: Member must be between 900 and {USER_MAX}")
        user_id = None if root else caller.principal.userid
        return self._issue(caller.account_id, min(duration, ROOT_MAX) if root else duration,
                           {}, user_id=user_id)

    def key_account(self, key_id: str) -> str:
        """The account an access key (long-term, or temporary) belongs to."""
        with self.db.read() as tx:
            row = (rows.get_session(tx, key_id) if key_id.startswith(SESSION_KEY_PREFIX)
                   else identity_rows.get_key(tx, key_id))
        if row is None:
            raise StsError("AccessDenied", f"The access key {key_id} does not exist.")
        return row.account_id

    def prune(self, now: float | None = None) -> int:
        with self.db.write() as tx:
            return rows.prune_sessions(tx, (time.time() if now is None else now) - PRUNE_AFTER)

    def _role(self, caller: Caller, role_arn: str) -> Role:
        """The role the ARN names; one that does not exist is refused as one the caller may
        not assume (STS tells nobody which roles exist)."""
        found = ROLE_ARN.fullmatch(role_arn)
        if found is None:
            raise _invalid(f"{role_arn} is invalid")
        account, path, name = found.groups()
        try:
            with self.db.read() as tx:
                role = require_role(tx, account, name)
        except IdentityError:
            role = None
        if role is None or role.path != path:
            raise StsError("AccessDenied", _denied(caller, role_arn))
        return role

    def _authorize(self, caller: Caller, role: Role, request: Request, action: str,
                   keys: dict) -> None:
        keys = {**keys, "sts:ExternalId": request.external_id,
                "sts:RoleSessionName": request.session_name,
                "sts:SourceIdentity": request.source_identity or (
                    caller.session and caller.session.source_identity),
                "aws:TagKeys": [key for key, _ in request.tags] or None,
                "sts:TransitiveTagKeys": list(request.transitive_tag_keys) or None,
                **{f"aws:RequestTag/{key}": value for key, value in request.tags}}
        trust = (_trust_policy(role.arn, role.trust_policy),)
        actions = [action]
        if request.tags:
            actions.append("sts:TagSession")
        if request.source_identity is not None:
            actions.append("sts:SetSourceIdentity")
        for action in actions:
            ctx, decision = decide(caller, action, role.arn, trust, keys, role.account_id)
            # A role is taken on only if its trust policy says so.
            if decision.allowed and _admits(trust[0], ctx):
                continue
            if caller.principal.kind == "federated-user":  # STS's words for web identities
                raise StsError("AccessDenied", f"Not authorized to perform {action}")
            # The same words whatever the reason, and as for a role that does not exist.
            raise StsError("AccessDenied", _denied(caller, request.role_arn, action))

    def _issue(self, account_id: str, duration: int, details: dict, *,
               role_id: str | None = None, user_id: str | None = None,
               session_name: str | None = None) -> Credentials:
        key_id = new_id(SESSION_KEY_PREFIX, 16)
        secret = base64.b64encode(os.urandom(30)).decode()
        token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(os.urandom(192)).decode()
        now = time.time()
        expires = math.floor(now) + duration
        with self.db.write() as tx:
            rows.insert_session(tx, {
                "id": key_id, "account_id": account_id, "role_id": role_id,
                "user_id": user_id, "session_name": session_name,
                "secret": self.master.seal(secret.encode(), key_context(key_id)),
                "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                "details": json.dumps(details), "issued_at": now, "expires_at": expires})
        return Credentials(key_id, secret, token, expires)


def _invalid(message: str) -> StsError:
    return StsError("ValidationError", message)


def _denied(caller: Caller, resource: str, action: str = "sts:AssumeRole") -> str:
    return (f"User: {caller.principal.arn} is not authorized to perform: {action} on "
            f"resource: {resource}")


def _role_duration(caller: Caller, role: Role, asked: int | None) -> int:
    duration = asked or ROLE_DEFAULT
    if caller.principal.kind == "assumed-role" and duration > CHAINED_MAX:
        raise _invalid("The requested DurationSeconds exceeds the 1 hour session limit for "
                       "roles assumed by role chaining.")
    if duration > role.max_session_seconds:
        raise _invalid("The requested DurationSeconds exceeds the MaxSessionDuration set for "
                       "this role.")
    return duration


def _session_policies(request: Request) -> list[str]:
    if request.policy_arns:
        raise StsError("MalformedPolicyDocument", f"The policy {request.policy_arns[0]} does "
                       "not exist: Berth has no managed policies (give the session policy "
                       "inline, as Policy)")
    if request.policy is None:
        return []
    if len(request.policy) > SESSION_POLICY_MAX:
        raise StsError("PackedPolicyTooLarge", "Packed size of consumed session policies "
                       "exceeds 100%.")
    try:
        parse_policy(request.policy, kind="identity", name="session policy")
    except PolicyError as exc:
        raise StsError("MalformedPolicyDocument", str(exc)) from None
    return [request.policy]


def _check_tags(request: Request) -> None:
    lowered = {key.lower() for key, _ in request.tags}
    if len(lowered) != len(request.tags):
        raise _invalid("Duplicate tag keys found. Please note that Tag keys are "
                       "case insensitive.")
    if len(request.tags) > TAGS_MAX:
        raise _invalid(f"Cannot exceed quota for TagsPerSession: {TAGS_MAX}")
    if any(key.lower() not in lowered for key in request.transitive_tag_keys):
        raise _invalid("The transitive tag keys must be among the session's tags.")


def _tags(caller: Caller, request: Request) -> tuple[list, list]:
    """The session's tags: the request's, and those the caller's session passes on (which
    the request may not change)."""
    lowered = {key.lower() for key, _ in request.tags}
    tags, transitive = list(request.tags), list(request.transitive_tag_keys)
    inherited = caller.session
    if inherited is not None:
        for key, value in inherited.tags:
            if key not in inherited.transitive_tag_keys:
                continue
            if key.lower() in lowered:
                raise _invalid(f"The transitive tag {key} of the calling session cannot be "
                               "overridden.")
            tags.append((key, value))
            transitive.append(key)
    return [list(pair) for pair in tags], transitive


def _source_identity(caller: Caller, asked: str | None) -> str | None:
    held = None if caller.session is None else caller.session.source_identity
    if held is not None and asked is not None and asked != held:
        raise _invalid("The source identity of a session cannot be changed once it is set.")
    return held if held is not None else asked


def _packed_size(policies: list[str], tags: list) -> int:
    """The percentage of the packed allowance the session policy and tags take."""
    used = sum(map(len, policies)) + sum(len(k) + len(v) for k, v in tags)
    percent = math.ceil(100 * used / PACKED_MAX)
    if percent > 100:
        raise StsError("PackedPolicyTooLarge", f"Packed size of consumed session policies "
                       f"and session tags exceeds 100% ({percent}%).")
    return percent


def _admits(trust: Policy, ctx: RequestContext) -> bool:
    """Whether a statement of the trust policy allows the request (naming the caller or its
    account: an account still needs the caller's own allow, which ``decide`` checked). A web
    identity is admitted only by a statement naming its provider as ``Federated``."""
    federated = ctx.principal.kind == "federated-user"
    return any(statement.effect is Effect.ALLOW and statement_applies(statement, trust, ctx)
               and (not federated or _names_provider(statement, ctx.principal.arn))
               for statement in trust.statements)


def _names_provider(statement, provider_arn: str) -> bool:
    element = statement.principal
    return element is not None and ("Federated", provider_arn) in element.entries


@lru_cache(maxsize=256)
def _trust_policy(arn: str, document: str):
    return parse_policy(document, kind="resource", name=f"trust policy of {arn}")
