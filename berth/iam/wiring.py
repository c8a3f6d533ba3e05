"""Building IAM from settings (called by the app factory and the admin CLI)."""
from __future__ import annotations

import functools

from ..config import Settings
from ..keys.master import MasterKey
from ..quotas.buckets import node_buckets
from ..quotas.rates import Limiter
from ..storage.metadata import registries as registry_rows
from ..registry.repositories.templates import CREATE_ON_PUSH, write_root
from ..storage.metadata.database import Database, Tx
from .bootstrap import adopt_orphans, bootstrap
from .identities import Account, IdentityService
from .service import Iam
from .tenancy import Tenancy
from .tokens import TokenService


def open_iam(settings: Settings, db: Database) -> Iam:
    """IAM over a migrated database, bootstrapping the administrator on first start."""
    # A database that already holds sealed secrets needs the key they were sealed with: make
    # a new one only for a new deployment.
    with db.read() as tx:
        new_deployment = registry_rows.newest_signing_key(tx) is None
    master = MasterKey.load(settings.master_key, settings.master_key_path,
                            create=new_deployment)
    identities = IdentityService(db, master)
    tokens = TokenService(db, master, settings.token_lifetime_seconds)
    admin, first_start = bootstrap(db, identities, tokens, settings.admin_account,
                                   settings.credentials_path,
                                   functools.partial(_first_registry, settings.default_region))
    tenancy = Tenancy(settings.domain, settings.region_list, settings.default_region,
                      settings.default_account or admin.id)
    iam = Iam(db, tenancy, identities, tokens)
    if settings.rate_limits:
        iam.limiter = Limiter(db, buckets=node_buckets(), deployment=admin.id)
    iam.providers.loopback_issuers = settings.oidc_loopback_issuers
    iam.administrator, iam.first_start = admin, first_start
    adopt_orphans(db, iam.registry_id(tenancy.default))
    return iam


def _first_registry(region: str, tx: Tx, admin: Account) -> None:
    """The administrator's registry in the default region, where a first push makes its
    repository (a ROOT CREATE_ON_PUSH template: ``docker push`` just works for whoever may
    ecr:CreateRepository, as in ECR once such a template exists)."""
    registry_id = registry_rows.ensure_registry(tx, admin.id, region)
    write_root(tx, registry_id, (CREATE_ON_PUSH,), "Made on first start: a push to a missing "
               "repository makes it")
