"""The admin operations of public registries (ECR Public's, which sets a custom alias in its
console): GetPublicRegistry (the account's alias, made with a default one on first use) and
PutPublicRegistryAlias (another alias, if no other registry has it). Authorized on the
account's root."""
from __future__ import annotations

from ...iam.service import Iam
from ...public.models import PublicRegistry
from .operations import Params, account_root, operation


def _shown(found: PublicRegistry, domain: str) -> dict:
    return {"PublicRegistry": {"AccountId": found.account_id, "Alias": found.alias,
                               "DisplayName": found.display_name,
                               "RegistryUri": f"public.{domain}/{found.alias}"}}


@operation("GetPublicRegistry", "ecr-public:DescribeRegistries", {"AccountId": True},
           account_root)
def get_public_registry(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])  # NoSuchEntity for an unknown account
    return _shown(iam.public_registries.ensure(p["AccountId"]), iam.tenancy.domain)


@operation("PutPublicRegistryAlias", "berth:PutPublicRegistryAlias",
           {"AccountId": True, "Alias": True}, account_root)
def put_public_registry_alias(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])
    found = iam.public_registries.set_alias(p["AccountId"], p["Alias"])
    return _shown(found, iam.tenancy.domain)
