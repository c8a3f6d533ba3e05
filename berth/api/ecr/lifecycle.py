"""ECR's lifecycle policy operations: a repository's policy (Put/Get/DeleteLifecyclePolicy)
and previews of what a policy would do (Start/GetLifecyclePolicyPreview). The rules, their
evaluation and the runs are berth.lifecycle's."""
from __future__ import annotations

from ...lifecycle.services import Preview
from ...registry.images.service import ImageId
from . import paging
from .access import Target, admit
from .endpoint import ApiCall
from .errors import invalid_parameter

PREVIEW_PAGE = 100  # GetLifecyclePolicyPreview's default and largest maxResults


def _result(target: Target, name: str, text: str, **more) -> dict:
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "lifecyclePolicyText": text, **more}


def put_lifecycle_policy(call: ApiCall) -> dict:
    name, text = call.params["repositoryName"], call.params["lifecyclePolicyText"]
    target = admit(call, "ecr:PutLifecyclePolicy", name)
    target.registry.lifecycle.put_policy(name, text)
    return _result(target, name, text)


def get_lifecycle_policy(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:GetLifecyclePolicy", name)
    found = target.registry.lifecycle.get_policy(name)
    # ECR answers the epoch for a policy that has not run yet.
    return _result(target, name, found.text, lastEvaluatedAt=found.last_evaluated_at or 0.0)


def delete_lifecycle_policy(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:DeleteLifecyclePolicy", name)
    found = target.registry.lifecycle.delete_policy(name)
    return _result(target, name, found.text, lastEvaluatedAt=found.last_evaluated_at or 0.0)


def start_lifecycle_policy_preview(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:StartLifecyclePolicyPreview", name)
    text, status = target.registry.lifecycle.start_preview(name,
                                                           call.params.get("lifecyclePolicyText"))
    return _result(target, name, text, status=status)


def get_lifecycle_policy_preview(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:GetLifecyclePolicyPreview", name)
    ids = call.params.get("imageIds")
    if ids is not None and ("nextToken" in call.params or "maxResults" in call.params):
        raise invalid_parameter("Invalid parameter: nextToken and maxResults cannot be used "
                                "with imageIds")
    tag_status = (call.params.get("filter") or {}).get("tagStatus", "ANY")
    tagged = {"TAGGED": True, "UNTAGGED": False}.get(tag_status)
    after = paging.cursor(call, name, tag_status)
    limit = call.params.get("maxResults", PREVIEW_PAGE)
    digests = tags = None
    if ids is not None:
        digests = [i["imageDigest"] for i in ids if i.get("imageDigest")]
        tags = [i["imageTag"] for i in ids if i.get("imageTag") and not i.get("imageDigest")]
        limit = len(ids)
    preview = target.registry.lifecycle.preview(
        name, int(after) if after and after.isdigit() else 0, limit, tagged, digests, tags)
    answer = _result(target, name, preview.text, status=preview.status,
                     previewResults=[_preview_result(r) for r in preview.results],
                     summary=_summary(preview))
    if preview.next_position is not None and ids is None:
        answer["nextToken"] = paging.token(call, name, tag_status, str(preview.next_position))
    return answer


def _preview_result(r) -> dict:
    action = {"type": r.action}
    if r.target:
        action["targetStorageClass"] = r.target
    return {"imageTags": r.tags, "imageDigest": r.digest, "imagePushedAt": r.pushed_at,
            "action": action, "appliedRulePriority": r.priority, "storageClass": r.storage_class}


def _summary(preview: Preview) -> dict:
    summary: dict = {"expiringImageTotalCount": preview.expiring}
    if preview.transitioning:
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": preview.transitioning}]
    return summary


def update_image_storage_class(call: ApiCall) -> dict:
    name, raw = call.params["repositoryName"], call.params["imageId"]
    target = admit(call, "ecr:UpdateImageStorageClass", name)
    image_id = ImageId(raw.get("imageDigest"), raw.get("imageTag"))
    digest, status = target.registry.image_storage.update(name, image_id,
                                                          call.params["targetStorageClass"])
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "imageId": {"imageDigest": digest, **({"imageTag": image_id.tag}
                                                  if image_id.tag else {})},
            "imageStatus": status}


OPERATIONS = {
    "UpdateImageStorageClass": update_image_storage_class,
    "PutLifecyclePolicy": put_lifecycle_policy,
    "GetLifecyclePolicy": get_lifecycle_policy,
    "DeleteLifecyclePolicy": delete_lifecycle_policy,
    "StartLifecyclePolicyPreview": start_lifecycle_policy_preview,
    "GetLifecyclePolicyPreview": get_lifecycle_policy_preview,
}
