"""Who may run an admin operation.

A caller manages its own account: its root may do everything there, a user needs an identity
policy allowing the action. Managing another account, and creating or listing accounts, takes
membership of the administrator account and then the same allowance there: the check is made
as if the resource were in the caller's account, so the administrator root passes and its
users need a policy."""
from __future__ import annotations

from ...iam.authentication import Caller
from ...iam.authorization import AccessDenied, require
from ...iam.service import Iam
from .operations import Operation, Params
from .shapes import root_arn


def authorize(iam: Iam, caller: Caller, op: Operation, params: Params) -> None:
    """Raises AccessDenied (blocking: a resource's ARN may need the database)."""
    if op.resource is None:
        resource = root_arn(caller.account_id)
        _require_admin(caller, op.action, resource)
        require(caller, op.action, resource, resource_account=caller.account_id)
        return
    resource = op.resource(iam, params)
    if params["AccountId"] == caller.account_id:
        require(caller, op.action, resource)
        return
    _require_admin(caller, op.action, resource)
    require(caller, op.action, resource, resource_account=caller.account_id)


def _require_admin(caller: Caller, action: str, resource: str) -> None:
    if not caller.is_admin:
        raise AccessDenied(
            f"User: {caller.principal.arn} is not authorized to perform: {action} on "
            f"resource: {resource} because only the administrator account may manage "
            "accounts", action, resource)
