"""The IAM policy language: parse policy documents, evaluate requests against them.

    policy = parse_policy(text, kind="resource", name="repository policy")
    ctx = RequestContext(Principal.user("111122223333", "alice"), "ecr:BatchGetImage",
                         "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web",
                         keys={"aws:SourceIp": "203.0.113.7", "aws:SecureTransport": True})
    decision = evaluate(ctx, identity_policies=[...], resource_policy=policy)
    decision.outcome   # Outcome.ALLOW / EXPLICIT_DENY / IMPLICIT_DENY
    decision.reason    # human-readable, naming the deciding statement(s)

Modules: ``document`` (parsing and validation), ``matching`` (wildcards, actions, ARNs),
``variables`` (``${...}`` policy variables), ``conditions`` (condition operators),
``context`` (the request), ``principals`` (Principal/NotPrincipal), ``evaluation`` (decision).
"""
from .context import Principal, RequestContext
from .document import Condition, Effect, Policy, PrincipalElement, Statement, parse_policy
from .errors import PolicyError
from .evaluation import (
                         ALLOW,
                         EXPLICIT_DENY,
                         IMPLICIT_DENY,
                         Decision,
                         MatchedStatement,
                         Outcome,
                         evaluate,
                         statement_applies,
)

__all__ = [
    "ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY", "Condition", "Decision", "Effect",
    "MatchedStatement", "Outcome", "Policy", "PolicyError", "Principal", "PrincipalElement",
    "RequestContext", "Statement", "evaluate", "parse_policy", "statement_applies",
]
