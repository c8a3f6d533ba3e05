"""The admin operations on OpenID Connect identity providers (berth/iam/federation.py), with
IAM's names and members: CreateOpenIDConnectProvider (Url, ClientIDList, ThumbprintList, and
Berth's JwksDocument for an issuer it cannot reach), ListOpenIDConnectProviders,
GetOpenIDConnectProvider, DeleteOpenIDConnectProvider. Authorized as the iam: actions on the
provider's ARN."""
from __future__ import annotations

from ...iam.federation import Provider, split_issuer
from ...iam.identities import IdentityError
from ...iam.service import Iam
from ...iam.tenancy import Tenancy
from . import shapes
from .operations import Params, account_root, operation

_ARN = {"AccountId": True, "OpenIDConnectProviderArn": True}


def named_provider(tenancy: Tenancy, p: Params) -> str:
    try:
        url = split_issuer(p["Url"], True)[1]
    except IdentityError:
        url = p["Url"]
    return f"arn:aws:iam::{p['AccountId']}:oidc-provider/{url}"


def provider_arn(tenancy: Tenancy, p: Params) -> str:
    return p["OpenIDConnectProviderArn"]


def provider_shape(found: Provider) -> dict:
    return {"Arn": found.arn, "Url": found.url, "ClientIDList": list(found.client_ids),
            "ThumbprintList": list(found.thumbprints), "KeysGiven": found.jwks is not None,
            "CreateDate": shapes.timestamp(found.created_at)}


@operation("CreateOpenIDConnectProvider", "iam:CreateOpenIDConnectProvider",
           {"AccountId": True, "Url": True, "ClientIDList": False, "ThumbprintList": False,
            "JwksDocument": False}, named_provider)
def create_provider(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])  # NoSuchEntity for an unknown account
    made = iam.providers.create(p["AccountId"], p["Url"], p.get("ClientIDList", ()),
                                p.get("ThumbprintList", ()), p.get("JwksDocument"))
    return {"OpenIDConnectProviderArn": made.arn}


@operation("ListOpenIDConnectProviders", "iam:ListOpenIDConnectProviders", {"AccountId": True},
           account_root)
def list_providers(iam: Iam, p: Params) -> dict:
    return {"OpenIDConnectProviderList": [{"Arn": found.arn} for found in
                                          iam.providers.list(p["AccountId"])]}


@operation("GetOpenIDConnectProvider", "iam:GetOpenIDConnectProvider", _ARN, provider_arn)
def get_provider(iam: Iam, p: Params) -> dict:
    return provider_shape(iam.providers.get(p["OpenIDConnectProviderArn"], p["AccountId"]))


@operation("DeleteOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", _ARN,
           provider_arn)
def delete_provider(iam: Iam, p: Params) -> dict:
    iam.providers.delete(p["OpenIDConnectProviderArn"], p["AccountId"])
    return {}

