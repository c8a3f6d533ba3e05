"""The admin operations, shared by the admin API (online) and ``berth admin`` (offline): each
takes JSON parameters, validated here, and returns the JSON result.

Every operation is authorized as one IAM action on one resource: ``resource`` gives the ARN
the request names, from the request alone (None for the operations on accounts themselves,
administrator account only); ``stored``, where it can differ, the ARN of what is stored under
that name (a user's path, a key's owner), None when nothing is."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from ...iam.identities import IdentityError
from ...iam.service import Iam
from ...iam.tenancy import Tenancy
from . import shapes
from .errors import validation_error

TARGET_PREFIX = "BerthAdmin_20261122"
_DOCUMENTS = ("PolicyDocument", "AssumeRolePolicyDocument")  # may be given as JSON objects
Params = dict
# Named by the request and the deployment's settings: never by what the database holds.
Resource = Callable[[Tenancy, Params], str]
Stored = Callable[[Iam, Params], "str | None"]


@dataclass(frozen=True)
class Operation:
    name: str
    action: str
    fields: dict[str, bool]  # parameter name -> required
    handler: Callable[[Iam, Params], dict]
    resource: Resource | None
    storage: bool = False  # the handler takes the default Registry instead of Iam
    stored: Stored | None = None

    @property
    def per_account(self) -> bool:
        return "AccountId" in self.fields and self.resource is not None


def operation(name: str, action: str, fields: dict[str, bool], resource: Resource | None,
              storage: bool = False, stored: Stored | None = None):
    """Describe a handler as an admin operation (``table.py`` lists the modules it reads)."""
    def describe(handler: Callable[[Iam, Params], dict]):
        handler.admin_operation = Operation(name, action, fields, handler, resource, storage,
                                            stored)
        return handler
    return describe


def validate(op: Operation, params: object) -> Params:
    """Known members only, strings only (a policy document may be an object, a ...List a
    list of strings), required ones present; null counts as absent."""
    if not isinstance(params, dict):
        raise validation_error("the request body must be a JSON object")
    unknown = sorted(set(params) - set(op.fields))
    if unknown:
        raise validation_error(f"{op.name} has no parameter {unknown[0]!r}")
    for name, required in op.fields.items():
        value = params.get(name)
        if value is None and required:
            raise validation_error(f"{op.name} requires {name}")
        if value is not None and not isinstance(value, str) and not (
                name in _DOCUMENTS and isinstance(value, dict)) and not (
                name.endswith("List") and isinstance(value, list)
                and all(isinstance(item, str) for item in value)):
            raise validation_error(f"{name} must be a string")
    return {name: value for name, value in params.items() if value is not None}


# -- the resources operations act on ---------------------------------------------------------
def account_root(tenancy: Tenancy, p: Params) -> str:
    return shapes.root_arn(p["AccountId"])


def named_user(tenancy: Tenancy, p: Params) -> str:
    """The user's ARN with the request's path (default /), or the root's when no user is
    named."""
    name = p.get("UserName")
    if name is None:
        return account_root(tenancy, p)
    return f"arn:aws:iam::{p['AccountId']}:user{p.get('Path', '/')}{name}"


def stored_user(iam: Iam, p: Params) -> str | None:
    """The named user's ARN with its stored path."""
    name = p.get("UserName")
    user = None if name is None else iam.identities.find_user(p["AccountId"], name)
    return None if user is None else user.arn


def key_owner(iam: Iam, p: Params) -> str | None:
    """The ARN of the user owning the key (the request names only the key: its account's
    root stands for the owner until it is looked up)."""
    owner = iam.identities.key_owner(p["AccountId"], p["AccessKeyId"])
    return None if owner is None else owner.arn


# -- accounts -------------------------------------------------------------------------------
@operation("CreateAccount", "organizations:CreateAccount",
           {"AccountName": True, "AccountId": False}, None)
def create_account(iam: Iam, p: Params) -> dict:
    return {"Account": shapes.account(
        iam.identities.create_account(p["AccountName"], p.get("AccountId")))}


@operation("ListAccounts", "organizations:ListAccounts", {}, None)
def list_accounts(iam: Iam, p: Params) -> dict:
    return {"Accounts": [shapes.account(found) for found in iam.identities.accounts()]}


# -- users ----------------------------------------------------------------------------------
_USER = {"AccountId": True, "UserName": True}


@operation("CreateUser", "iam:CreateUser", {**_USER, "Path": False}, named_user)
def create_user(iam: Iam, p: Params) -> dict:
    return {"User": shapes.user(
        iam.identities.create_user(p["AccountId"], p["UserName"], p.get("Path", "/")))}


@operation("ListUsers", "iam:ListUsers", {"AccountId": True}, account_root)
def list_users(iam: Iam, p: Params) -> dict:
    return {"Users": [shapes.user(found) for found in iam.identities.users(p["AccountId"])]}


@operation("DeleteUser", "iam:DeleteUser", _USER, named_user, stored=stored_user)
def delete_user(iam: Iam, p: Params) -> dict:
    iam.identities.delete_user(p["AccountId"], p["UserName"])
    return {}


# -- access keys ----------------------------------------------------------------------------
_KEY_OWNER = {"AccountId": True, "UserName": False}
_KEY = {"AccountId": True, "AccessKeyId": True}
_STATUSES = {"Active": True, "Inactive": False}


@operation("CreateAccessKey", "iam:CreateAccessKey", _KEY_OWNER, named_user,
           stored=stored_user)
def create_access_key(iam: Iam, p: Params) -> dict:
    return {"AccessKey": shapes.access_key(
        iam.identities.create_access_key(p["AccountId"], p.get("UserName")))}


@operation("ListAccessKeys", "iam:ListAccessKeys", _KEY_OWNER, named_user, stored=stored_user)
def list_access_keys(iam: Iam, p: Params) -> dict:
    keys = iam.identities.access_keys(p["AccountId"], p.get("UserName"))
    return {"AccessKeyMetadata": [shapes.access_key(key) for key in keys]}


@operation("UpdateAccessKey", "iam:UpdateAccessKey", {**_KEY, "Status": True},
           account_root, stored=key_owner)
def update_access_key(iam: Iam, p: Params) -> dict:
    if p["Status"] not in _STATUSES:
        raise validation_error("Status must be Active or Inactive")
    iam.identities.set_access_key_active(p["AccountId"], p["AccessKeyId"],
                                         _STATUSES[p["Status"]])
    return {}


@operation("DeleteAccessKey", "iam:DeleteAccessKey", _KEY, account_root,
           stored=key_owner)
def delete_access_key(iam: Iam, p: Params) -> dict:
    iam.identities.delete_access_key(p["AccountId"], p["AccessKeyId"])
    return {}


# -- identity policies ----------------------------------------------------------------------
_POLICY = {**_USER, "PolicyName": True}


@operation("PutUserPolicy", "iam:PutUserPolicy", {**_POLICY, "PolicyDocument": True},
           named_user, stored=stored_user)
def put_user_policy(iam: Iam, p: Params) -> dict:
    iam.identities.put_user_policy(p["AccountId"], p["UserName"], p["PolicyName"],
                                   document(p, "PolicyDocument"))
    return {}


def document(p: Params, name: str) -> str:
    """A policy document parameter as text (it may come as a JSON object)."""
    value = p[name]
    return json.dumps(value) if isinstance(value, dict) else value


@operation("GetUserPolicy", "iam:GetUserPolicy", _POLICY, named_user, stored=stored_user)
def get_user_policy(iam: Iam, p: Params) -> dict:
    policies = iam.identities.user_policies(p["AccountId"], p["UserName"])
    if p["PolicyName"] not in policies:
        raise IdentityError("NoSuchEntity", f"user {p['UserName']!r} has no policy "
                                            f"{p['PolicyName']!r}")
    return {"UserName": p["UserName"], "PolicyName": p["PolicyName"],
            "PolicyDocument": policies[p["PolicyName"]]}


@operation("ListUserPolicies", "iam:ListUserPolicies", _USER, named_user, stored=stored_user)
def list_user_policies(iam: Iam, p: Params) -> dict:
    return {"PolicyNames": sorted(iam.identities.user_policies(p["AccountId"],
                                                                p["UserName"]))}


@operation("DeleteUserPolicy", "iam:DeleteUserPolicy", _POLICY, named_user,
           stored=stored_user)
def delete_user_policy(iam: Iam, p: Params) -> dict:
    iam.identities.delete_user_policy(p["AccountId"], p["UserName"], p["PolicyName"])
    return {}
