"""May the caller do this: the caller's identity policies, the repository's policy and its
registry's policy, evaluated as AWS does, with AWS's wording when the answer is no."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any, Mapping

from ..storage.metadata import registries as registry_rows
from ..storage.metadata import repositories as repository_rows
from ..storage.metadata.database import Tx
from ..storage.metadata.generation_cache import cached
from .authentication import SESSION_POLICY, Caller
from .policy import IMPLICIT_DENY, Decision, Policy, RequestContext, evaluate, parse_policy
from .tenancy import RegistryAddress


SESSION_LIMITED = "no session policy allows the request"


class AccessDenied(Exception):
    def __init__(self, message: str, action: str, resource: str):
        super().__init__(message)
        self.message = message
        self.action = action
        self.resource = resource
        self.principal_arn = ""  # set by the gate once it knows the caller
        self.address: RegistryAddress | None = None  # and the registry it was refused in


def denial_message(caller: Caller, ctx: RequestContext, decision: Decision) -> str:
    # AWS says "User:" for every caller, the account root included.
    base = (f"User: {caller.principal.arn} is not authorized to perform: {ctx.action} on "
            f"resource: {ctx.resource}")
    statement = decision.statement
    if decision.explicitly_denied and statement is not None:
        if statement.policy == SESSION_POLICY:
            return f"{base} with an explicit deny in a session policy"
        if statement.policy_kind == "identity":
            return f"{base} with an explicit deny in an identity-based policy"
        return f"{base} with an explicit deny in a resource-based policy"
    if decision.reason == SESSION_LIMITED:
        return f"{base} because no session policy allows the {ctx.action} action"
    cross_account = ctx.resource_account not in (None, caller.account_id)
    if cross_account and statement is None:  # no resource statement allowed it either
        return f"{base} because no resource-based policy allows the {ctx.action} action"
    return f"{base} because no identity-based policy allows the {ctx.action} action"


def decide(caller: Caller, action: str, resource: str, resource_policies=(),
           keys: Mapping[str, Any] | None = None,
           resource_account: str | None = None) -> tuple[RequestContext, Decision]:
    session = caller.session
    if session is not None:
        keys = {**session.context_keys(), **(keys or {})}
    ctx = RequestContext(caller.principal, action, resource, resource_account=resource_account,
                         keys=keys or {})
    decision = evaluate(ctx, caller.policies, resource_policies=resource_policies)
    if session is None or not session.policies or not decision.allowed:
        return ctx, decision
    # Session policies narrow what the identity may do: the request must pass them too.
    # Judged as identity policies alone: what a resource policy of another account grants is
    # already in ``decision``; here only whether the session policies allow the request.
    narrowed = evaluate(dataclasses.replace(ctx, resource_account=ctx.principal.account_id),
                        session.policies)
    if narrowed.allowed:
        return ctx, decision
    if narrowed.explicitly_denied:
        return ctx, narrowed
    return ctx, Decision(IMPLICIT_DENY, SESSION_LIMITED)


def require(caller: Caller, action: str, resource: str, resource_policies=(),
            keys: Mapping[str, Any] | None = None, resource_account: str | None = None) -> None:
    ctx, decision = decide(caller, action, resource, resource_policies, keys, resource_account)
    if not decision.allowed:
        raise AccessDenied(denial_message(caller, ctx, decision), action, resource)


class Authorizer:
    def repository_policies(self, tx: Tx, entries: dict, registry_id: int | None,
                            repository: str | None) -> tuple[Policy, ...]:
        """The resource-based policies over a repository: its own and its registry's."""
        found = [cached(entries, ("registry-policy", registry_id),
                        lambda: registry_rows.registry_policy(tx, registry_id))]
        if repository is not None:
            found.append(self._repository(tx, entries, registry_id, repository)[0])
        return tuple(resource_policy(text) for text in found if text)

    def _repository(self, tx: Tx, entries: dict, registry_id: int | None,
                    repository: str) -> tuple[str | None, dict[str, str]]:
        """The repository's policy text and its tags (both change only with a bump)."""
        return cached(entries, ("repository", registry_id, repository),
                      lambda: _policy_and_tags(tx, registry_id, repository))

    def check(self, tx: Tx, entries: dict, caller: Caller, action: str,
              address: RegistryAddress, registry_id: int | None, repository: str | None,
              keys: Mapping[str, Any] | None = None) -> None:
        resource = address.repository_arn(repository if repository is not None else "*")
        if repository is not None:
            tags = self._repository(tx, entries, registry_id, repository)[1]
            if tags:
                keys = {**(keys or {}),
                        **{f"aws:ResourceTag/{k}": v for k, v in tags.items()}}
        require(caller, action, resource,
                self.repository_policies(tx, entries, registry_id, repository), keys)


def _policy_and_tags(tx: Tx, registry_id: int | None,
                     repository: str) -> tuple[str | None, dict[str, str]]:
    row = repository_rows.policy(tx, registry_id, repository)
    if row is None:
        return None, {}
    return row.policy, repository_rows.tags_of(tx, row.id)


@lru_cache(maxsize=1024)
def resource_policy(text: str) -> Policy:
    return parse_policy(text, kind="resource", name=None)
