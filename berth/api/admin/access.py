"""Who may run an admin operation.

A caller manages its own account: its root may do everything there, a user needs an identity
policy allowing the action. Managing another account, and creating or listing accounts, takes
membership of the administrator account and then the same allowance there: the check is made
as if the resource were in the caller's account, so the administrator root passes and its
users need a policy.

Refusals must not tell what exists: the decision is made first on the resource the request
names, before anything is looked up, and a refusal names that resource, so it reads the same
whether or not the target exists. Only a caller the account is open to gets the stored
target's ARN looked up (a user's path, a key's owner, an alias's key), which decides when
it differs: IAM decides on the stored ARN."""
from __future__ import annotations

from ...iam.authentication import Caller
from ...iam.authorization import AccessDenied, decide, denial_message, require
from ...iam.service import Iam
from ...observability import metrics
from .operations import Operation, Params
from .shapes import root_arn


def authorize(iam: Iam, caller: Caller, op: Operation, params: Params) -> None:
    """Raises AccessDenied (blocking: a stored target's ARN may need the database)."""
    try:
        _authorize(iam, caller, op, params)
    except AccessDenied as exc:
        metrics.refused("admin", metrics.denial_reason(exc.message))
        raise


def _authorize(iam: Iam, caller: Caller, op: Operation, params: Params) -> None:
    if op.resource is None:
        resource = root_arn(caller.account_id)
        _require_admin(caller, op.action, resource)
        require(caller, op.action, resource, resource_account=caller.account_id)
        return
    named = op.resource(iam.tenancy, params)
    account = None  # the resource's own
    if params["AccountId"] != caller.account_id:
        _require_admin(caller, op.action, named)
        account = caller.account_id
    ctx, decision = decide(caller, op.action, named, resource_account=account)
    stored = op.stored(iam, params) if op.stored is not None else None
    if stored is not None and stored != named:
        stored_ctx, stored_decision = decide(caller, op.action, stored,
                                             resource_account=account)
        if stored_decision.allowed:
            return
        if decision.allowed:  # allowed on the name, the caller may learn what it names
            ctx, decision = stored_ctx, stored_decision
    if not decision.allowed:
        raise AccessDenied(denial_message(caller, ctx, decision), ctx.action, ctx.resource)


def _require_admin(caller: Caller, action: str, resource: str) -> None:
    if not caller.is_admin:
        raise AccessDenied(
            f"User: {caller.principal.arn} is not authorized to perform: {action} on "
            f"resource: {resource} because only the administrator account may manage "
            "accounts", action, resource)
