"""ECR Public's repository operations: create (with catalog data), describe, delete, the
repository's catalog data; policies and resource tags are the ECR front-end's handlers."""
from __future__ import annotations

from ...public.models import RepositoryCatalog
from ..ecr import policies
from ..ecr import repositories as ecr
from ..ecr.access import admit
from ..ecr.endpoint import ApiCall
from .addresses import gallery_base, public_base, registry_of

# ECR Public's members -> RepositoryCatalog's fields.
_FIELDS = {"description": "description", "aboutText": "about_text", "usageText": "usage_text",
           "architectures": "architectures", "operatingSystems": "operating_systems",
           "categories": "categories", "logoImageBlob": "logo"}


def _given(data: dict | None) -> dict:
    given = {_FIELDS[k]: v for k, v in (data or {}).items() if k in _FIELDS}
    for key in ("architectures", "operating_systems", "categories"):
        if key in given:
            given[key] = tuple(dict.fromkeys(given[key]))
    return given


def catalog_out(call: ApiCall, name: str, catalog: RepositoryCatalog) -> dict:
    out = {"description": catalog.description, "aboutText": catalog.about_text,
           "usageText": catalog.usage_text, "architectures": list(catalog.architectures),
           "operatingSystems": list(catalog.operating_systems),
           "categories": list(catalog.categories), "marketplaceCertified": False}
    if catalog.logo:  # the gallery serves it
        alias = (registry_of(call, call.caller.identity.account_id)).alias
        out["logoUrl"] = f"{gallery_base(call)}/_logo/{alias}/{name}"
    return out


def _with_uris(call: ApiCall, repositories: list[dict]) -> list[dict]:
    """ECR's descriptions with ECR Public's URIs: <public host>/<alias>/<name>."""
    if repositories:
        alias = (registry_of(call, repositories[0]["registryId"])).alias
        for repo in repositories:
            repo["repositoryUri"] = f"{public_base(call)}/{alias}/{repo['repositoryName']}"
    return repositories


def create_repository(call: ApiCall) -> dict:
    p, name = call.params, call.params["repositoryName"]
    tags = p.get("tags") or []
    target = admit(call, "ecr:CreateRepository", name, ecr._tag_keys(call, tags))
    given = _given(p.get("catalogData"))
    catalog = RepositoryCatalog(**given) if "catalogData" in p else None
    repo = target.registry.public_catalogs.create(name, catalog,
                                                  [(t["Key"], t["Value"]) for t in tags])
    out = ecr._out(call, target, repo)
    _with_uris(call, [out])
    return {"repository": out,
            "catalogData": catalog_out(call, name, catalog or RepositoryCatalog())}


def describe_repositories(call: ApiCall) -> dict:
    found = ecr.describe_repositories(call)
    _with_uris(call, found["repositories"])
    return found


def delete_repository(call: ApiCall) -> dict:
    found = ecr.delete_repository(call)
    _with_uris(call, [found["repository"]])
    return found


def get_repository_catalog_data(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:GetRepositoryCatalogData", name)
    catalog = target.registry.public_catalogs.get(name)
    return {"catalogData": catalog_out(call, name, catalog)}


def put_repository_catalog_data(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:PutRepositoryCatalogData", name)
    catalog = target.registry.public_catalogs.put(name,
                                                  _given(call.params["catalogData"]))
    return {"catalogData": catalog_out(call, name, catalog)}


OPERATIONS = {
    "CreateRepository": create_repository,
    "DescribeRepositories": describe_repositories,
    "DeleteRepository": delete_repository,
    "GetRepositoryCatalogData": get_repository_catalog_data,
    "PutRepositoryCatalogData": put_repository_catalog_data,
    "SetRepositoryPolicy": policies.set_repository_policy,
    "GetRepositoryPolicy": policies.get_repository_policy,
    "DeleteRepositoryPolicy": policies.delete_repository_policy,
    "TagResource": ecr.tag_resource,
    "UntagResource": ecr.untag_resource,
    "ListTagsForResource": ecr.list_tags_for_resource,
}
