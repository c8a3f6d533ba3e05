"""ECR repository operations: create, describe, delete, tag mutability, scan on push, and the
repository's resource tags (TagResource, UntagResource, ListTagsForResource)."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

from ...registry.repositories.resource_tags import RepositoryTagService
from ...registry.repositories.settings import (
    AES256,
    MUTABLE,
    Repository,
    RepositorySettings,
    RepositorySettingsService,
    TagMutability,
)
from . import paging
from .access import Target, admit, condition_keys, registry_host
from .caller import iam
from .endpoint import ApiCall
from .errors import model_error

_ARN = re.compile(r"arn:aws:(ecr|ecr-public):([a-z0-9-]*):([0-9]{12}):repository/(.+)")


def _settings(target: Target) -> RepositorySettingsService:
    return target.registry.repository_settings


def _tags(target: Target) -> RepositoryTagService:
    return target.registry.resource_tags


def repository_uri(call: ApiCall, target: Target, name: str) -> str:
    """``<host>[:port]/<name>``, the host as ``registry_host`` says the client reaches it."""
    return registry_host(call, target.address) + "/" + name


def _out(call: ApiCall, target: Target, repo: Repository) -> dict:
    s = repo.settings
    return {"repositoryArn": target.address.repository_arn(repo.name),
            "registryId": target.registry_id_text, "repositoryName": repo.name,
            "repositoryUri": repository_uri(call, target, repo.name),
            "createdAt": datetime.fromtimestamp(repo.created_at, timezone.utc),
            **_mutability_out(s.mutability),
            "imageScanningConfiguration": {"scanOnPush": s.scan_on_push},
            "encryptionConfiguration": {"encryptionType": s.encryption_type,
                                        "kmsKey": s.kms_key}}


def _mutability_in(params: dict) -> TagMutability:
    filters = params.get("imageTagMutabilityExclusionFilters") or ()
    return TagMutability(params.get("imageTagMutability") or MUTABLE,
                         tuple(f["filter"] for f in filters))


def _mutability_out(mutability: TagMutability) -> dict:
    filters = [{"filterType": "WILDCARD", "filter": f} for f in mutability.exclusions]
    return {"imageTagMutability": mutability.mode,
            "imageTagMutabilityExclusionFilters": filters or None}


def _tag_keys(call: ApiCall, tags: list[dict] = (), keys: list[str] | None = None) -> dict:
    """The condition keys of a request carrying tags (or tag keys)."""
    extra = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    extra["aws:TagKeys"] = [t["Key"] for t in tags] if keys is None else keys
    return condition_keys(call, **extra)


def create_repository(call: ApiCall) -> dict:
    p, name = call.params, call.params["repositoryName"]
    tags = p.get("tags") or []
    target = admit(call, "ecr:CreateRepository", name, _tag_keys(call, tags))
    encryption = p.get("encryptionConfiguration") or {}
    settings = RepositorySettings(
        _mutability_in(p), bool((p.get("imageScanningConfiguration") or {}).get("scanOnPush")),
        encryption.get("encryptionType", AES256), encryption.get("kmsKey"))
    repo = _settings(target).create(name, settings,
                                    [(t["Key"], t["Value"]) for t in tags])
    return {"repository": _out(call, target, repo)}


def describe_repositories(call: ApiCall) -> dict:
    names = call.params.get("repositoryNames")
    if names is None:
        return _list_repositories(call)
    if "maxResults" in call.params or "nextToken" in call.params:
        raise model_error("InvalidParameterException", "maxResults and nextToken cannot be "
                          "used together with repositoryNames")
    found = []
    for name in dict.fromkeys(names):
        call.context["repository"] = name  # the one an error names
        target = admit(call, "ecr:DescribeRepositories", name)
        found.append(_out(call, target, _settings(target).get(name)))
    return {"repositories": found}


def _list_repositories(call: ApiCall) -> dict:
    target = _listing_target(call)
    if target is None:  # a registry not made yet has no repositories
        return {"repositories": []}
    action = target.address.action("ecr:DescribeRepositories")
    can_see = iam(call.request).visibility(call.caller.identity, action,
                                           target.address, target.registry_id,
                                           condition_keys(call))

    def visible(repo: Repository) -> bool:
        return can_see(repo.name)

    scope = target.registry_id_text
    after = paging.cursor(call, "", scope)
    page, more = _settings(target).page(after,
                                        call.params.get("maxResults", 100), visible)
    return {"repositories": [_out(call, target, repo) for repo in page],
            "nextToken": None if more is None else paging.token(call, "", scope, more)}


def _listing_target(call: ApiCall) -> Target | None:
    """The addressed registry, unauthorized: a listing is filtered repository by repository
    (None: no registry, not made yet or of no account, which list the same nothing)."""
    caller = call.caller
    address = dataclasses.replace(caller.own_registry,
                                  account_id=call.params.get("registryId")
                                  or caller.identity.account_id)
    registry_id = iam(call.request).listed_registry(address)
    if registry_id is None:
        return None
    return Target(address, registry_id, call.request.app.state.registry.scoped(registry_id))


def delete_repository(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:DeleteRepository", name)
    repo = _settings(target).delete(name, bool(call.params.get("force")))
    return {"repository": _out(call, target, repo)}


def put_image_tag_mutability(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:PutImageTagMutability", name)
    mutability = _settings(target).set_mutability(name,
                                                  _mutability_in(call.params))
    return {"registryId": target.registry_id_text, "repositoryName": name,
            **_mutability_out(mutability)}


def put_image_scanning_configuration(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:PutImageScanningConfiguration", name)
    wanted = bool(call.params["imageScanningConfiguration"].get("scanOnPush"))
    scan = _settings(target).set_scan_on_push(name, wanted)
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "imageScanningConfiguration": {"scanOnPush": scan}}


def _resource(call: ApiCall, action: str, keys: dict | None = None
              ) -> tuple[Target, str]:
    """The registry and repository ``resourceArn`` names, admitted for ``action``."""
    arn = call.params["resourceArn"]
    match = _ARN.fullmatch(arn)
    own = call.caller.own_registry  # the service and region of the call's own registry
    if match is None or arn != dataclasses.replace(own, account_id=match.group(3)
                                                   ).repository_arn(match.group(4)):
        raise model_error("InvalidParameterException", f"Invalid parameter at 'resourceArn' "
                          f"failed to satisfy constraint: 'Invalid ARN {arn}'")
    _, _, account, name = match.groups()
    addressed = dataclasses.replace(call, params={**call.params, "registryId": account})
    return admit(addressed, action, name, keys), name


def tag_resource(call: ApiCall) -> dict:
    tags = call.params["tags"]
    target, name = _resource(call, "ecr:TagResource", _tag_keys(call, tags))
    _tags(target).tag(name,
                      [(t["Key"], t["Value"]) for t in tags])
    return {}


def untag_resource(call: ApiCall) -> dict:
    keys = call.params["tagKeys"]
    target, name = _resource(call, "ecr:UntagResource", _tag_keys(call, keys=keys))
    _tags(target).untag(name, keys)
    return {}


def list_tags_for_resource(call: ApiCall) -> dict:
    target, name = _resource(call, "ecr:ListTagsForResource")
    tags = _tags(target).list(name)
    return {"tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


OPERATIONS = {
    "CreateRepository": create_repository,
    "DescribeRepositories": describe_repositories,
    "DeleteRepository": delete_repository,
    "PutImageTagMutability": put_image_tag_mutability,
    "PutImageScanningConfiguration": put_image_scanning_configuration,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
