"""ECR Public's registry operations: DescribeRegistries, the registry's catalog data, and
GetAuthorizationToken (a token for the public registries' /token/ and for docker login)."""
from __future__ import annotations

from datetime import datetime, timezone

from ...iam.authorization import AccessDenied, require
from ...public.models import PublicRegistry
from ..ecr.authorization_token import mint
from ..ecr.endpoint import ApiCall
from ..ecr.errors import access_denied
from .addresses import gallery_base, public_base, registry_of

BEARER_ACTION = "sts:GetServiceBearerToken"  # ECR Public asks for it too


def _registry(call: ApiCall, registry: PublicRegistry) -> dict:
    account = registry.account_id
    return {"registryId": account, "registryArn": f"arn:aws:ecr-public::{account}:registry/"
            f"{account}", "registryUri": f"{public_base(call)}/{registry.alias}",
            "verified": False,
            "aliases": [{"name": registry.alias, "status": "ACTIVE",
                         "primaryRegistryAlias": True, "defaultRegistryAlias": True}]}


def describe_registries(call: ApiCall) -> dict:
    _allowed(call, "ecr-public:DescribeRegistries")
    registry = registry_of(call, call.caller.identity.account_id)
    return {"registries": [_registry(call, registry)]}


def _catalog(call: ApiCall, registry: PublicRegistry) -> dict:
    logo = f"{gallery_base(call)}/_logo/{registry.alias}" if registry.logo else None
    return {"registryCatalogData": {"displayName": registry.display_name,
                                    "description": registry.description or None,
                                    "logoUrl": logo}}


def get_registry_catalog_data(call: ApiCall) -> dict:
    _allowed(call, "ecr-public:GetRegistryCatalogData")
    return _catalog(call, registry_of(call, call.caller.identity.account_id))


def put_registry_catalog_data(call: ApiCall) -> dict:
    _allowed(call, "ecr-public:PutRegistryCatalogData")
    p = call.params
    registries = call.request.app.state.registry.public_registries
    found = registries.put_catalog(call.caller.identity.account_id, p.get("displayName"),
                                   p.get("description"), p.get("logoImageBlob"))
    return _catalog(call, found)


def get_authorization_token(call: ApiCall) -> dict:
    """A registry token for the public registries (docker login public.<domain>). On a
    plain host of the private registries it addresses the default region, as a token from
    before regions did."""
    _allowed(call, BEARER_ACTION)
    token, expires = mint(call, "ecr-public:GetAuthorizationToken", None)
    return {"authorizationData": {"authorizationToken": token,
                                  "expiresAt": datetime.fromtimestamp(expires, timezone.utc)}}


def _allowed(call: ApiCall, action: str) -> None:
    """Identity policies only: the registry's own operations are on no repository."""
    try:
        require(call.caller.identity, action, "*")
    except AccessDenied as exc:
        raise access_denied(exc.message) from None


OPERATIONS = {
    "DescribeRegistries": describe_registries,
    "GetRegistryCatalogData": get_registry_catalog_data,
    "PutRegistryCatalogData": put_registry_catalog_data,
    "GetAuthorizationToken": get_authorization_token,
}
