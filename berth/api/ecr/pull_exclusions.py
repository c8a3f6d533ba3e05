"""ECR's pull time update exclusions of the caller's registry: principals whose pulls leave
an image's lastRecordedPullTime alone (Register/Deregister/ListPullTimeUpdateExclusions)."""
from __future__ import annotations

from ...registry.images.pull_exclusions import MAX_EXCLUSIONS
from . import paging
from .access import admit
from .endpoint import ApiCall

LIST_PAGE = 100  # the most one answer holds (PullTimeUpdateExclusionList)


def register_pull_time_update_exclusion(call: ApiCall) -> dict:
    arn = call.params["principalArn"]
    target = admit(call, "ecr:RegisterPullTimeUpdateExclusion")
    made = target.registry.manifests.pull_exclusions.register(arn)
    return {"principalArn": made.principal_arn, "createdAt": made.created_at}


def deregister_pull_time_update_exclusion(call: ApiCall) -> dict:
    arn = call.params["principalArn"]
    target = admit(call, "ecr:DeregisterPullTimeUpdateExclusion")
    target.registry.manifests.pull_exclusions.deregister(arn)
    return {"principalArn": arn}


def list_pull_time_update_exclusions(call: ApiCall) -> dict:
    target = admit(call, "ecr:ListPullTimeUpdateExclusions")
    scope = target.registry_id_text
    after = paging.cursor(call, "", scope) or ""
    limit = min(call.params.get("maxResults", LIST_PAGE), LIST_PAGE, MAX_EXCLUSIONS)
    found = target.registry.manifests.pull_exclusions.page(after, limit + 1)
    answer: dict = {"pullTimeUpdateExclusions": [e.principal_arn for e in found[:limit]]}
    if len(found) > limit:
        answer["nextToken"] = paging.token(call, "", scope, found[limit - 1].principal_arn)
    return answer


OPERATIONS = {
    "RegisterPullTimeUpdateExclusion": register_pull_time_update_exclusion,
    "DeregisterPullTimeUpdateExclusion": deregister_pull_time_update_exclusion,
    "ListPullTimeUpdateExclusions": list_pull_time_update_exclusions,
}
