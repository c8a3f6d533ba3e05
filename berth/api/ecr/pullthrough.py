"""ECR's pull-through cache rules (Create/Describe/Update/Delete/ValidatePullThroughCacheRule):
a repository prefix of the registry mapped to an upstream registry."""
from __future__ import annotations

from datetime import datetime, timezone

from ...pullthrough.cache import PullThrough
from ...pullthrough.errors import CredentialUnusable
from ...pullthrough.rules import Rule, RuleService
from ...pullthrough.upstream import UpstreamError
from . import paging
from .access import Target, admit
from .endpoint import ApiCall

DESCRIBE_PAGE = 1000  # DescribePullThroughCacheRules' largest maxResults
_FIELDS = (("upstreamRegistryUrl", "upstream_url"), ("upstreamRegistry", "upstream_registry"),
           ("credentialArn", "credential_arn"), ("customRoleArn", "custom_role_arn"),
           ("upstreamRoleArn", "upstream_role_arn"),
           ("upstreamRepositoryPrefix", "upstream_prefix"))


def _cache(call: ApiCall) -> PullThrough:
    return call.request.app.state.pullthrough


def _rules(call: ApiCall, target: Target) -> RuleService:
    return _cache(call).rules(target.registry)


def _out(target: Target, rule: Rule, *, created: bool = True, updated: bool = False) -> dict:
    out = {"ecrRepositoryPrefix": rule.prefix, "registryId": target.registry_id_text}
    out.update({member: getattr(rule, field) for member, field in _FIELDS
                if getattr(rule, field) is not None})
    if created:
        out["createdAt"] = datetime.fromtimestamp(rule.created_at, timezone.utc)
    if updated:
        out["updatedAt"] = datetime.fromtimestamp(rule.updated_at, timezone.utc)
    return out


def create_pull_through_cache_rule(call: ApiCall) -> dict:
    p = call.params
    target = admit(call, "ecr:CreatePullThroughCacheRule")
    rule = Rule(p["ecrRepositoryPrefix"], **{field: p[member] for member, field in _FIELDS
                                              if member in p})
    created = _rules(call, target).create(rule)
    _cache(call).forget_rules(target.registry_id)
    return _out(target, created)


def update_pull_through_cache_rule(call: ApiCall) -> dict:
    p = call.params
    target = admit(call, "ecr:UpdatePullThroughCacheRule")
    changes = {field: p[member] or None for member, field in _FIELDS[2:5] if member in p}
    updated = _rules(call, target).update(p["ecrRepositoryPrefix"], **changes)
    _cache(call).forget_rules(target.registry_id)
    out = _out(target, updated, created=False, updated=True)
    out.pop("upstreamRegistryUrl", None)  # not in UpdatePullThroughCacheRule's output
    out.pop("upstreamRegistry", None)
    return out


def delete_pull_through_cache_rule(call: ApiCall) -> dict:
    target = admit(call, "ecr:DeletePullThroughCacheRule")
    deleted = _rules(call, target).delete(call.params["ecrRepositoryPrefix"])
    _cache(call).forget_rules(target.registry_id)
    out = _out(target, deleted)
    out.pop("upstreamRegistry", None)  # not in DeletePullThroughCacheRule's output
    return out


def describe_pull_through_cache_rules(call: ApiCall) -> dict:
    target = admit(call, "ecr:DescribePullThroughCacheRules")
    prefixes = call.params.get("ecrRepositoryPrefixes")
    found, next_token = paging.prefixed_page(
        call, target.registry_id_text, prefixes,
        _rules(call, target).describe(prefixes), DESCRIBE_PAGE)
    answer: dict = {"pullThroughCacheRules": [
        _out(target, r, updated=r.updated_at != r.created_at) for r in found]}
    if next_token:
        answer["nextToken"] = next_token
    return answer


def validate_pull_through_cache_rule(call: ApiCall) -> dict:
    """Whether the upstream answers with the rule's credentials (its failure, if not)."""
    target = admit(call, "ecr:ValidatePullThroughCacheRule")
    rule = _rules(call, target).get(call.params["ecrRepositoryPrefix"])
    failure = _check(_cache(call), rule)
    out = _out(target, rule, created=False)
    out.pop("upstreamRegistry", None)
    out["isValid"] = failure is None
    if failure is not None:
        out["failure"] = failure
    return out


def _check(cache: PullThrough, rule: Rule) -> str | None:
    try:
        cache.upstream(rule).check()
    except CredentialUnusable as exc:
        return exc.message
    except UpstreamError as exc:
        return {"denied": "The upstream registry refused the rule's credentials",
                "rate_limited": "The upstream registry limits requests; try again later",
                }.get(exc.code, f"The upstream registry could not be reached: {exc}")
    return None


OPERATIONS = {
    "CreatePullThroughCacheRule": create_pull_through_cache_rule,
    "DescribePullThroughCacheRules": describe_pull_through_cache_rules,
    "UpdatePullThroughCacheRule": update_pull_through_cache_rule,
    "DeletePullThroughCacheRule": delete_pull_through_cache_rule,
    "ValidatePullThroughCacheRule": validate_pull_through_cache_rule,
}
