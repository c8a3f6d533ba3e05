"""``berth admin roles``: IAM roles that workloads take on through STS instead of holding
long-term keys (``create|list|get|delete``, their inline policies ``put-policy|list-policies|
delete-policy``, and ``revoke-sessions``, which denies every session issued before now as
IAM's "revoke active sessions" does: an inline policy AWSRevokeOlderSessions). Each command is
(help, admin operation, arguments, parameters)."""
from __future__ import annotations

import argparse
import json
import math
import time
from datetime import datetime, timezone

from ..api.admin.errors import AdminError

HELP = "IAM roles (assumed through STS for temporary credentials)"
REVOKE_POLICY = "AWSRevokeOlderSessions"

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID",
                             "help": "the account's 12-digit id"})
_ROLE = (("name",), {"metavar": "ROLE", "help": "the role's name"})
_POLICY = (("--policy-name",), {"required": True, "metavar": "POLICY",
                                "help": "the inline policy's name"})
_DOCUMENT = ((("--document",), {"metavar": "JSON"}), (("--file",), {"metavar": "PATH"}))


def _text(document: str | None, path: str | None, what: str) -> str:
    if (document is None) == (path is None):
        raise AdminError("ValidationError", f"give the {what} with exactly one of --document "
                         "and --file")
    if document is not None:
        return document
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _role(a: argparse.Namespace, **more) -> dict:
    return {"AccountId": a.account, "RoleName": a.name, **more}


def _create(a: argparse.Namespace) -> dict:
    return _role(a, AssumeRolePolicyDocument=_text(a.document, a.file, "trust policy"),
                 Path=a.path, Description=a.description,
                 MaxSessionDuration=None if a.max_session_duration is None
                 else str(a.max_session_duration))


def revoke_older_sessions(now: float) -> str:
    """IAM's policy for revoking a role's active sessions: deny everything to sessions whose
    token was issued before ``now``."""
    # Rounded up: a session issued earlier in this second is revoked too.
    moment = datetime.fromtimestamp(math.ceil(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": moment}}}]})


COMMANDS = {
    "create": (
        "create a role with its trust policy (who may assume it)", "CreateRole",
        (_ACCOUNT, _ROLE, *_DOCUMENT, (("--path",), {"metavar": "/PATH/"}),
         (("--description",), {"metavar": "TEXT"}),
         (("--max-session-duration",), {"type": int, "metavar": "SECONDS",
                                        "help": "3600 (default) to 43200"})),
        _create),
    "list": ("list an account's roles", "ListRoles", (_ACCOUNT,),
             lambda a: {"AccountId": a.account}),
    "get": ("show a role", "GetRole", (_ACCOUNT, _ROLE), _role),
    "delete": ("delete a role with its policies; its sessions stop working",
               "DeleteRole", (_ACCOUNT, _ROLE), _role),
    "put-policy": (
        "attach (or replace) a role's inline identity policy", "PutRolePolicy",
        (_ACCOUNT, _ROLE, _POLICY, *_DOCUMENT),
        lambda a: _role(a, PolicyName=a.policy_name,
                        PolicyDocument=_text(a.document, a.file, "policy"))),
    "list-policies": ("list a role's inline policy names", "ListRolePolicies",
                      (_ACCOUNT, _ROLE), _role),
    "delete-policy": ("delete a role's inline policy", "DeleteRolePolicy",
                      (_ACCOUNT, _ROLE, _POLICY),
                      lambda a: _role(a, PolicyName=a.policy_name)),
    "revoke-sessions": (
        "deny every session of the role issued before now (new sessions work)",
        "PutRolePolicy", (_ACCOUNT, _ROLE),
        lambda a: _role(a, PolicyName=REVOKE_POLICY,
                        PolicyDocument=revoke_older_sessions(time.time()))),
}
