"""The admin operations on replication sites -- other Berth deployments a registry replicates
to, each named by its registry's account id -- per account and region (Region defaults to
the default region), authorized as berth: actions on the account's root:
PutReplicationSite (RegistryId, Endpoint, SecretArn: a secret holding the site's
accessKeyId and secretAccessKey), ListReplicationSites and DeleteReplicationSite. The key
itself stays in the secret store: a site shows its secret's ARN only."""
from __future__ import annotations

from ...notifications.envelope import iso_time
from ...registry.registry import Registry
from ...replication.sites import Site, Sites, SiteInvalid, SiteNotFound
from ...secrets.models import SecretError
from .errors import AdminError
from .operations import Params, account_root, operation
from .registries import registry_of

_SITES = {"AccountId": True, "Region": False}
_SITE = {**_SITES, "RegistryId": True}


def _sites(registry: Registry, p: Params) -> Sites:
    # The deployment's secret store is the default registry's (the app factory sets it).
    return registry_of(registry, p, make=True).replication_sites(registry.secrets.resolve)


def _site(found: Site) -> dict:
    return {"RegistryId": found.registry_id, "Endpoint": found.endpoint,
            "SecretArn": found.secret_arn, "CreatedAt": iso_time(found.created_at)}


@operation("PutReplicationSite", "berth:PutReplicationSite",
           {**_SITE, "Endpoint": True, "SecretArn": True}, account_root, storage=True)
def put_replication_site(registry: Registry, p: Params) -> dict:
    try:
        return {"Site": _site(_sites(registry, p).put(p["RegistryId"], p["Endpoint"],
                                                      p["SecretArn"]))}
    except SiteInvalid as exc:
        raise AdminError("ValidationError", exc.message) from None
    except SecretError as exc:
        raise AdminError(exc.code, f"The site's secret: {exc.message}", exc.status) from None


@operation("ListReplicationSites", "berth:ListReplicationSites", _SITES, account_root,
           storage=True)
def list_replication_sites(registry: Registry, p: Params) -> dict:
    return {"Sites": [_site(s) for s in _sites(registry, p).list()]}


@operation("DeleteReplicationSite", "berth:DeleteReplicationSite", _SITE, account_root,
           storage=True)
def delete_replication_site(registry: Registry, p: Params) -> dict:
    try:
        _sites(registry, p).delete(p["RegistryId"])
    except SiteNotFound as exc:
        raise AdminError("ResourceNotFoundException", exc.message, 404) from None
    return {}
