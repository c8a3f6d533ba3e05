"""The admin operations of console passwords, as IAM names them: CreateLoginProfile (a user
without one gets one), UpdateLoginProfile (a new one), DeleteLoginProfile (the user can no
longer sign in to the console with a password, and its console sessions end). Authorized as
IAM's actions on the user. The password is never returned, logged or audited."""
from __future__ import annotations

from ...iam.console import LoginProfiles
from ...iam.service import Iam
from .operations import Params, named_user, operation, stored_user

_USER = {"AccountId": True, "UserName": True}


@operation("CreateLoginProfile", "iam:CreateLoginProfile", {**_USER, "Password": True},
           named_user, stored=stored_user)
def create_login_profile(iam: Iam, p: Params) -> dict:
    LoginProfiles(iam).set(p["AccountId"], p["UserName"], p["Password"], new=True)
    return {"LoginProfile": {"UserName": p["UserName"]}}


@operation("UpdateLoginProfile", "iam:UpdateLoginProfile", {**_USER, "Password": True},
           named_user, stored=stored_user)
def update_login_profile(iam: Iam, p: Params) -> dict:
    LoginProfiles(iam).set(p["AccountId"], p["UserName"], p["Password"], new=False)
    return {}


@operation("DeleteLoginProfile", "iam:DeleteLoginProfile", _USER, named_user,
           stored=stored_user)
def delete_login_profile(iam: Iam, p: Params) -> dict:
    LoginProfiles(iam).delete(p["AccountId"], p["UserName"])
    return {}
