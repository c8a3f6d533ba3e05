"""The decision: does a request get through the identity-based and resource-based policies?

Following IAM's "Policy evaluation logic" (permissions boundaries, SCPs and session policies are
not modelled):

1. An explicit ``Deny`` that applies, in any identity-based policy of the caller or in the
   resource policy, wins: ``EXPLICIT_DENY``.
2. The root user of the resource's own account is allowed everything else (IAM: "all requests
   are implicitly denied with the exception of the AWS account root user, which has full
   access"). Only an explicit deny stops it.
3. Same account: an ``Allow`` in an identity-based policy *or* in the resource policy suffices.
   A resource policy that names only the caller's account (``"123456789012"`` or
   ``arn:aws:iam::123456789012:root``) grants the account, not the caller; the caller then
   still needs an identity-based allow.
4. Cross-account: both must allow - an identity-based policy of the caller and the resource
   policy (naming the caller, its role, its account, or ``"*"``). A caller that is the root user
   of its own account counts as allowed on the identity side.
5. Callers with no account (anonymous, AWS services) have no identity policies; the resource
   policy alone decides.

Anything else is ``IMPLICIT_DENY``. A statement applies when its action, resource, principal and
every condition match; a policy variable that cannot be resolved makes the statement not apply.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence

from .conditions import evaluate_condition
from .context import RequestContext
from .document import Effect, Policy, Statement
from .matching import ARN_SEGMENTS, action_matches, arn_like, arn_match, glob_items, split_arn
from .principals import PrincipalMatch, excluded_by_not_principal, match_principal
from .variables import Unresolved, parse_template, render_items


class Outcome(str, Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


ALLOW = Outcome.ALLOW
EXPLICIT_DENY = Outcome.EXPLICIT_DENY
IMPLICIT_DENY = Outcome.IMPLICIT_DENY


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that decided (part of) the outcome, for messages and audit."""

    policy: str | None  # the policy's name, else its Id
    policy_kind: str    # "identity" or "resource"
    index: int
    sid: str | None

    def __str__(self) -> str:
        where = f"Statement[{self.index}]" + (f" (Sid {self.sid!r})" if self.sid else "")
        named = f" {self.policy!r}" if self.policy else ""
        return f"{self.policy_kind} policy{named} {where}"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    statements: tuple[MatchedStatement, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def explicitly_denied(self) -> bool:
        return self.outcome is Outcome.EXPLICIT_DENY

    @property
    def statement(self) -> MatchedStatement | None:
        """The first deciding statement, if any."""
        return self.statements[0] if self.statements else None


def _matched(policy: Policy, statement: Statement) -> MatchedStatement:
    return MatchedStatement(policy.name or policy.id, policy.kind, statement.index, statement.sid)


def resource_matches(pattern: str, ctx: RequestContext, variables: bool) -> bool:
    """A ``Resource`` pattern against the request's resource. Policy variables count only in
    the resource segment (after the fifth colon). Raises ``Unresolved``."""
    if not variables or "${" not in pattern:
        return arn_like(pattern, ctx.resource)
    segments = split_arn(pattern)
    if len(segments) != ARN_SEGMENTS:
        return arn_like(pattern, ctx.resource)
    compiled = [glob_items(segment) for segment in segments[:-1]]
    compiled.append(render_items(parse_template(segments[-1]), ctx.variable, wildcards=True))
    return arn_match(compiled, ctx.resource)


def statement_applies(statement: Statement, policy: Policy, ctx: RequestContext
                      ) -> PrincipalMatch:
    """Whether ``statement`` applies to the request, and for a resource policy how its
    principal matched. ``NONE`` means it does not apply."""
    try:
        return _applies(statement, policy, ctx)
    except Unresolved:
        return PrincipalMatch.NONE


def _applies(statement: Statement, policy: Policy, ctx: RequestContext) -> PrincipalMatch:
    none = PrincipalMatch.NONE
    if statement.actions is not None:
        if not any(action_matches(a, ctx.action) for a in statement.actions):
            return none
    elif any(action_matches(a, ctx.action) for a in statement.not_actions or ()):
        return none
    variables = policy.variables_enabled
    if statement.resources is not None:
        if not any(resource_matches(r, ctx, variables) for r in statement.resources):
            return none
    elif statement.not_resources is not None:
        if any(resource_matches(r, ctx, variables) for r in statement.not_resources):
            return none
    level = PrincipalMatch.DIRECT
    if statement.principal is not None:
        level = match_principal(statement.principal, ctx.principal)
        if level is none:
            return none
    elif statement.not_principal is not None:
        if excluded_by_not_principal(statement.not_principal, ctx.principal):
            return none
    for condition in statement.conditions:
        if not evaluate_condition(condition.operator, condition.key, condition.values, ctx,
                                  variables):
            return none
    return level


def _statements(policies: Iterable[Policy], effect: Effect):
    for policy in policies:
        for statement in policy.statements:
            if statement.effect is effect:
                yield policy, statement


def evaluate(
    ctx: RequestContext,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    is_account_root: bool | None = None,
    resource_policies: Sequence[Policy] = (),
) -> Decision:
    """Decide ``ctx`` against the caller's identity-based policies and the resource's policy.

    ``resource_policies`` adds further resource-based policies that apply to the same resource
    (an ECR repository policy and its registry's policy): they act as one.
    ``is_account_root`` says the caller is the root user of its account (``ctx.principal``'s
    account); None means "if ``ctx.principal.kind == 'root'``".
    """
    identity_policies = tuple(identity_policies)
    for policy in identity_policies:
        if policy.kind != "identity":
            raise ValueError(f"{policy.label}: identity_policies must be identity policies")
    resource_policies = [*([resource_policy] if resource_policy is not None else []),
                         *resource_policies]
    for policy in resource_policies:
        if policy.kind != "resource":
            raise ValueError(f"{policy.label}: resource_policy must be a resource policy")
    principal = ctx.principal
    root = principal.kind == "root" if is_account_root is None else is_account_root
    request = f"{ctx.action} on {ctx.resource}"

    denies = [
        _matched(policy, statement)
        for policy, statement in _statements([*identity_policies, *resource_policies], Effect.DENY)
        if statement_applies(statement, policy, ctx) is not PrincipalMatch.NONE
    ]
    if denies:
        return Decision(EXPLICIT_DENY, f"{request} is explicitly denied by {denies[0]}",
                        tuple(denies))

    has_account = principal.account_id is not None
    same_account = has_account and ctx.resource_account in (None, principal.account_id)
    if root and same_account:
        return Decision(ALLOW, f"the root user of account {principal.account_id} may perform "
                               f"{request}")

    identity_allow = next(
        (_matched(policy, statement)
         for policy, statement in _statements(identity_policies, Effect.ALLOW)
         if statement_applies(statement, policy, ctx) is not PrincipalMatch.NONE),
        None,
    )
    resource_allow: MatchedStatement | None = None
    resource_level = PrincipalMatch.NONE
    for policy, statement in _statements(resource_policies, Effect.ALLOW):
        level = statement_applies(statement, policy, ctx)
        if level > resource_level:
            resource_allow, resource_level = _matched(policy, statement), level
            if level is PrincipalMatch.DIRECT:
                break

    if not has_account:
        if resource_level is PrincipalMatch.DIRECT:
            return Decision(ALLOW, f"{request} is allowed by {resource_allow}", (resource_allow,))
        return Decision(IMPLICIT_DENY, f"no resource policy statement allows {request} for "
                                       f"{principal.principal_type.lower()} callers")

    if same_account:
        if identity_allow is not None:
            return Decision(ALLOW, f"{request} is allowed by {identity_allow}", (identity_allow,))
        if resource_level is PrincipalMatch.DIRECT:
            return Decision(ALLOW, f"{request} is allowed by {resource_allow}", (resource_allow,))
        if resource_level is PrincipalMatch.ACCOUNT:
            return Decision(
                IMPLICIT_DENY,
                f"{resource_allow} grants {request} to account {principal.account_id}, which "
                f"must also allow it in an identity-based policy of {principal.arn}",
                (resource_allow,),
            )
        return Decision(IMPLICIT_DENY, f"no identity-based or resource policy allows {request} "
                                       f"for {principal.arn}")

    # Cross-account: the trusting (resource) side and the trusted (caller) side must both allow.
    if resource_allow is None:
        return Decision(
            IMPLICIT_DENY,
            f"cross-account request from {principal.account_id}: no resource policy statement "
            f"of account {ctx.resource_account} allows {request} for {principal.arn}",
        )
    if identity_allow is None and not root:
        return Decision(
            IMPLICIT_DENY,
            f"cross-account request: {resource_allow} allows {request}, but no identity-based "
            f"policy of {principal.arn} does",
            (resource_allow,),
        )
    matched = (identity_allow, resource_allow) if identity_allow else (resource_allow,)
    return Decision(ALLOW, f"cross-account {request} is allowed by "
                           + " and ".join(str(m) for m in matched), matched)
