"""Other Berth deployments a registry replicates to (beyond ECR: a second site, a real
disaster-recovery copy). A site is named by the account id of its registry: a replication
destination ``(region, registryId)`` whose registryId is a site goes to that site's endpoint,
signed with an access key of its own kept as a secret (``{"accessKeyId",
"secretAccessKey"}``, sealed with the master key: berth.secrets). Kept in the registry's
settings; the key never leaves the secret store."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from ..registry.errors import RegistryError
from ..registry.settings import merge_settings, read_settings
from ..registry.endpoints import split_url
from ..secrets.models import owned_by
from ..storage.metadata import identities as identity_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database

SETTINGS_KEY = "replicationSites"
MAX_SITES = 25  # as many as a configuration's unique destinations
_ACCOUNT = re.compile(r"[0-9]{12}")
_SECRET_ARN = re.compile(r"arn:aws[a-z0-9-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+")


class SiteInvalid(RegistryError):
    """A remote site's settings the registry refuses."""


class SiteNotFound(RegistryError):
    """No remote site has that name."""


@dataclass(frozen=True)
class Site:
    registry_id: str   # the account whose registry the site holds
    endpoint: str      # its registry and ECR API endpoint
    secret_arn: str    # the access key it is written with
    created_at: float = 0.0

    def document(self) -> dict:
        return {"endpoint": self.endpoint, "secretArn": self.secret_arn,
                "createdAt": self.created_at}


def sites_of(settings: dict) -> dict[str, Site]:
    return {rid: Site(rid, d["endpoint"], d["secretArn"], d.get("createdAt", 0.0))
            for rid, d in (settings.get(SETTINGS_KEY) or {}).items()}


def access_key(secret: dict) -> tuple[str, str]:
    """The (access key id, secret access key) a site's secret holds."""
    key_id, key = secret.get("accessKeyId"), secret.get("secretAccessKey")
    if not (isinstance(key_id, str) and isinstance(key, str) and key_id and key):
        raise SiteInvalid("The site's secret must hold accessKeyId and secretAccessKey")
    return key_id, key


class Sites:
    """The sites of one registry. ``secrets`` resolves a secret ARN to its JSON value."""

    def __init__(self, db: Database, registry_id: int, secrets: Callable[[str], dict]):
        self.db, self.registry_id, self.secrets = db, registry_id, secrets

    def put(self, registry_id: str, endpoint: str, secret_arn: str) -> Site:
        if not _ACCOUNT.fullmatch(registry_id):
            raise SiteInvalid(f"Invalid registry id '{registry_id}': 12 digits")
        if "://" not in endpoint or split_url(endpoint) is None:
            raise SiteInvalid(f"Invalid endpoint '{endpoint}': http(s)://host[:port]")
        if not _SECRET_ARN.fullmatch(secret_arn):
            raise SiteInvalid(f"Invalid secret ARN '{secret_arn}'")
        site = Site(registry_id, endpoint.rstrip("/"), secret_arn, time.time())
        with self.db.write() as tx:
            own = registry_rows.settings(tx, self.registry_id)
            if not owned_by(secret_arn, own.account_id, own.region):
                raise SiteInvalid(f"The secret {secret_arn} is not in the registry's account "
                                  f"and region ({own.account_id}, {own.region})")
            access_key(self.secrets(secret_arn))
            if identity_rows.find_account(tx, "id", registry_id) is not None:
                raise SiteInvalid(f"The account {registry_id} is one of this deployment's: "
                                  "replicate to it directly")
            current = sites_of(read_settings(tx, self.registry_id, lock=True))
            if registry_id not in current and len(current) >= MAX_SITES:
                raise SiteInvalid(f"A registry may have at most {MAX_SITES} sites")
            current[registry_id] = site
            merge_settings(tx, self.registry_id, {SETTINGS_KEY: {
                rid: s.document() for rid, s in current.items()}})
        return site

    def list(self) -> list[Site]:
        with self.db.read() as tx:
            return sorted(sites_of(read_settings(tx, self.registry_id)).values(),
                          key=lambda s: s.registry_id)

    def delete(self, registry_id: str) -> Site:
        with self.db.write() as tx:
            current = sites_of(read_settings(tx, self.registry_id, lock=True))
            if registry_id not in current:
                raise SiteNotFound(f"No replication site has the registry id '{registry_id}'")
            gone = current.pop(registry_id)
            merge_settings(tx, self.registry_id, {SETTINGS_KEY: {
                rid: s.document() for rid, s in current.items()} or None})
        return gone
