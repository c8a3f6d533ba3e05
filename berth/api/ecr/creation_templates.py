"""ECR's repository creation templates (Create/Describe/Update/DeleteRepositoryCreationTemplate):
the settings of repositories the registry makes on someone's behalf. Managing one needs, as
in ECR, the rights to do what it will do: ecr:CreateRepository, and ecr:PutLifecyclePolicy
and ecr:SetRepositoryPolicy where it carries those policies."""
from __future__ import annotations

from datetime import datetime, timezone

from ...registry.repositories.settings import TagMutability
from ...registry.repositories.templates import Template, TemplateService
from . import paging
from .access import Target, admit
from .endpoint import ApiCall

DESCRIBE_PAGE = 1000  # DescribeRepositoryCreationTemplates' largest maxResults


def _service(target: Target) -> TemplateService:
    return target.registry.creation_templates


def _changes(params: dict) -> dict:
    """Template's fields the request sets; an empty text clears a policy or description."""
    changes: dict = {}
    if "appliedFor" in params:
        changes["applied_for"] = tuple(dict.fromkeys(params["appliedFor"]))
    if "description" in params:
        changes["description"] = params["description"] or None
    if "imageTagMutability" in params or "imageTagMutabilityExclusionFilters" in params:
        filters = params.get("imageTagMutabilityExclusionFilters") or ()
        changes["mutability"] = TagMutability(params.get("imageTagMutability") or "MUTABLE",
                                              tuple(f["filter"] for f in filters))
    if "encryptionConfiguration" in params:
        encryption = params["encryptionConfiguration"]
        changes["encryption_type"] = encryption["encryptionType"]
        changes["kms_key"] = encryption.get("kmsKey") or None
    if "resourceTags" in params:
        changes["resource_tags"] = tuple((t["Key"], t["Value"]) for t in params["resourceTags"])
    for name, field in (("repositoryPolicy", "repository_policy"),
                        ("lifecyclePolicy", "lifecycle_policy"),
                        ("customRoleArn", "custom_role_arn")):
        if name in params:
            changes[field] = params[name] or None
    return changes


def _actions(action: str, params: dict) -> tuple[str, ...]:
    wanted = [action, "ecr:CreateRepository"]
    if params.get("lifecyclePolicy"):
        wanted.append("ecr:PutLifecyclePolicy")
    if params.get("repositoryPolicy"):
        wanted.append("ecr:SetRepositoryPolicy")
    return tuple(wanted)


def _out(t: Template) -> dict:
    encryption = {"encryptionType": t.encryption_type}
    if t.kms_key:
        encryption["kmsKey"] = t.kms_key
    filters = [{"filterType": "WILDCARD", "filter": f} for f in t.mutability.exclusions]
    out = {"prefix": t.prefix, "description": t.description,
           "encryptionConfiguration": encryption,
           "resourceTags": [{"Key": k, "Value": v} for k, v in t.resource_tags],
           "imageTagMutability": t.mutability.mode,
           "imageTagMutabilityExclusionFilters": filters or None,
           "repositoryPolicy": t.repository_policy, "lifecyclePolicy": t.lifecycle_policy,
           "appliedFor": list(t.applied_for), "customRoleArn": t.custom_role_arn,
           "createdAt": datetime.fromtimestamp(t.created_at, timezone.utc),
           "updatedAt": datetime.fromtimestamp(t.updated_at, timezone.utc)}
    return {k: v for k, v in out.items() if v is not None}


def _answer(target: Target, template: Template) -> dict:
    return {"registryId": target.registry_id_text, "repositoryCreationTemplate": _out(template)}


def create_repository_creation_template(call: ApiCall) -> dict:
    p = call.params
    target = admit(call, _actions("ecr:CreateRepositoryCreationTemplate", p))
    template = Template(**{"prefix": p["prefix"], "applied_for": (), **_changes(p)})
    return _answer(target, _service(target).create(template))


def update_repository_creation_template(call: ApiCall) -> dict:
    p = call.params
    target = admit(call, _actions("ecr:UpdateRepositoryCreationTemplate", p))
    return _answer(target, _service(target).update(p["prefix"],
                                                   **_changes(p)))


def delete_repository_creation_template(call: ApiCall) -> dict:
    target = admit(call, "ecr:DeleteRepositoryCreationTemplate")
    return _answer(target, _service(target).delete(call.params["prefix"]))


def describe_repository_creation_templates(call: ApiCall) -> dict:
    target = admit(call, "ecr:DescribeRepositoryCreationTemplates")
    prefixes = call.params.get("prefixes")
    found, next_token = paging.prefixed_page(
        call, target.registry_id_text, prefixes,
        _service(target).describe(prefixes), DESCRIBE_PAGE)
    answer: dict = {"registryId": target.registry_id_text,
                    "repositoryCreationTemplates": [_out(t) for t in found]}
    if next_token:
        answer["nextToken"] = next_token
    return answer


OPERATIONS = {
    "CreateRepositoryCreationTemplate": create_repository_creation_template,
    "DescribeRepositoryCreationTemplates": describe_repository_creation_templates,
    "UpdateRepositoryCreationTemplate": update_repository_creation_template,
    "DeleteRepositoryCreationTemplate": delete_repository_creation_template,
}
