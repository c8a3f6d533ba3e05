"""Small builders shared by the policy tests."""
from __future__ import annotations

from typing import Any

from berth.iam.policy import Principal, RequestContext, parse_policy, statement_applies
from berth.iam.policy.principals import PrincipalMatch

ACCOUNT = "123456789012"   # owns the repositories
OTHER = "111122223333"     # another account
REGION = "us-east-1"
REPO = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team-a/web"


def repo_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ecr:{REGION}:{account}:repository/{name}"


def identity(document: Any, name: str | None = None):
    return parse_policy(document, kind="identity", name=name)


def resource(document: Any, name: str | None = None):
    return parse_policy(document, kind="resource", name=name)


def request(
    principal: Principal | None = None,
    action: str = "ecr:BatchGetImage",
    resource_arn: str = REPO,
    keys: dict | None = None,
) -> RequestContext:
    return RequestContext(
        principal or Principal.user(ACCOUNT, "alice"), action, resource_arn, keys=keys or {})


def holds(condition: dict, keys: dict | None = None, *, principal: Principal | None = None,
          version: str | None = "2012-10-17") -> bool:
    """Whether a statement allowing everything, guarded by ``condition``, applies."""
    document: dict = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                     "Condition": condition}]}
    if version:
        document["Version"] = version
    policy = identity(document)
    ctx = request(principal, keys=keys)
    return statement_applies(policy.statements[0], policy, ctx) is not PrincipalMatch.NONE
