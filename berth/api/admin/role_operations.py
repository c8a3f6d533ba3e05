"""The admin operations on IAM roles (berth/iam/roles.py), with IAM's names, members and
errors: CreateRole, GetRole, ListRoles, UpdateRole, UpdateAssumeRolePolicy, DeleteRole, and
the inline policies PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy.
Authorized as the iam: actions on the role's ARN."""
from __future__ import annotations

from ...iam.identities import IdentityError
from ...iam.roles import Role
from ...iam.service import Iam
from ...iam.tenancy import Tenancy
from . import shapes
from .errors import validation_error
from .operations import Params, account_root, document, operation

_ROLE = {"AccountId": True, "RoleName": True}
_POLICY = {**_ROLE, "PolicyName": True}


def named_role(tenancy: Tenancy, p: Params) -> str:
    return f"arn:aws:iam::{p['AccountId']}:role{p.get('Path', '/')}{p['RoleName']}"


def stored_role(iam: Iam, p: Params) -> str | None:
    try:
        return iam.roles.get(p["AccountId"], p["RoleName"]).arn
    except IdentityError:
        return None


def role_shape(found: Role) -> dict:
    return {"RoleName": found.name, "RoleId": found.id, "Arn": found.arn, "Path": found.path,
            "AccountId": found.account_id, "AssumeRolePolicyDocument": found.trust_policy,
            "Description": found.description,
            "MaxSessionDuration": found.max_session_seconds,
            "CreateDate": shapes.timestamp(found.created_at)}


def _seconds(p: Params) -> int | None:
    text = p.get("MaxSessionDuration")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise validation_error("MaxSessionDuration must be a number of seconds") from None


@operation("CreateRole", "iam:CreateRole",
           {**_ROLE, "AssumeRolePolicyDocument": True, "Path": False, "Description": False,
            "MaxSessionDuration": False}, named_role)
def create_role(iam: Iam, p: Params) -> dict:
    extra = {"max_session_seconds": _seconds(p)} if p.get("MaxSessionDuration") else {}
    return {"Role": role_shape(iam.roles.create(
        p["AccountId"], p["RoleName"], document(p, "AssumeRolePolicyDocument"),
        p.get("Path", "/"), p.get("Description"), **extra))}


@operation("GetRole", "iam:GetRole", _ROLE, named_role, stored=stored_role)
def get_role(iam: Iam, p: Params) -> dict:
    return {"Role": role_shape(iam.roles.get(p["AccountId"], p["RoleName"]))}


@operation("ListRoles", "iam:ListRoles", {"AccountId": True}, account_root)
def list_roles(iam: Iam, p: Params) -> dict:
    return {"Roles": [role_shape(found) for found in iam.roles.list(p["AccountId"])]}


@operation("UpdateRole", "iam:UpdateRole",
           {**_ROLE, "Description": False, "MaxSessionDuration": False}, named_role,
           stored=stored_role)
def update_role(iam: Iam, p: Params) -> dict:
    iam.roles.update(p["AccountId"], p["RoleName"], description=p.get("Description"),
                     max_session_seconds=_seconds(p))
    return {}


@operation("UpdateAssumeRolePolicy", "iam:UpdateAssumeRolePolicy",
           {**_ROLE, "PolicyDocument": True}, named_role, stored=stored_role)
def update_assume_role_policy(iam: Iam, p: Params) -> dict:
    iam.roles.update(p["AccountId"], p["RoleName"],
                     trust_policy=document(p, "PolicyDocument"))
    return {}


@operation("DeleteRole", "iam:DeleteRole", _ROLE, named_role, stored=stored_role)
def delete_role(iam: Iam, p: Params) -> dict:
    iam.roles.delete(p["AccountId"], p["RoleName"])
    return {}


@operation("PutRolePolicy", "iam:PutRolePolicy", {**_POLICY, "PolicyDocument": True},
           named_role, stored=stored_role)
def put_role_policy(iam: Iam, p: Params) -> dict:
    iam.roles.put_policy(p["AccountId"], p["RoleName"], p["PolicyName"],
                         document(p, "PolicyDocument"))
    return {}


@operation("GetRolePolicy", "iam:GetRolePolicy", _POLICY, named_role, stored=stored_role)
def get_role_policy(iam: Iam, p: Params) -> dict:
    policies = iam.roles.policies(p["AccountId"], p["RoleName"])
    if p["PolicyName"] not in policies:
        raise IdentityError("NoSuchEntity", f"The role policy with name {p['PolicyName']} "
                                            "cannot be found.")
    return {"RoleName": p["RoleName"], "PolicyName": p["PolicyName"],
            "PolicyDocument": policies[p["PolicyName"]]}


@operation("ListRolePolicies", "iam:ListRolePolicies", _ROLE, named_role, stored=stored_role)
def list_role_policies(iam: Iam, p: Params) -> dict:
    return {"PolicyNames": sorted(iam.roles.policies(p["AccountId"], p["RoleName"]))}


@operation("DeleteRolePolicy", "iam:DeleteRolePolicy", _POLICY, named_role,
           stored=stored_role)
def delete_role_policy(iam: Iam, p: Params) -> dict:
    iam.roles.delete_policy(p["AccountId"], p["RoleName"], p["PolicyName"])
    return {}
