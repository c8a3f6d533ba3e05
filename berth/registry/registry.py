"""The registry's services wired over one metadata database and one blob driver."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable

from ..storage.blobs import BlobDriver
from ..storage.metadata.database import Database
from .blobs.hashers import HasherCache
from .blobs.service import BlobService
from .blobs.uploads import DEFAULT_GRACE_SECONDS, UploadService
from .images.manifests import DEFAULT_MAX_REFERENCES, ManifestService
from .repositories.encryption import Encryption
from .repositories.resource_tags import RepositoryTagService
from .repositories.service import RepositoryService
from .repositories.settings import RepositorySettingsService
from .repositories.templates import TemplateService
from .errors import RegistryError
from .settings import AccountSettings

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

    from ..lifecycle.run import RunReport
    from ..lifecycle.services import LifecycleService
    from ..public.services import RepositoryCatalogs
    from ..replication.configuration import ReplicationConfigurations
    from ..replication.sites import Sites
    from ..scanning.services import ScanService
    from ..scanning.vulndb.store import SourceReport
    from ..signing.services import SigningService
    from .images.service import ImageService
    from .usage import RegistryUsage
    from .images.storage_class import ImageStorage

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")  # what a registry may be made in


class RegistryNotFound(RegistryError):
    """No registry of ``account_id`` in ``region`` (and none was to be made)."""
    code = "REGISTRY_UNKNOWN"

    def __init__(self, account_id: str, region: str):
        super().__init__(f"no registry of account {account_id} in {region}")
        self.account_id, self.region = account_id, region


@dataclass
class Registry:
    """The services of one private registry (an account's, in one region), identified by
    ``registry_id``; ``scoped`` gives another registry's over the same storage.
    ``encryption`` decides which key seals a new repository's blobs (the driver seals them:
    berth.storage.blobs.encrypted)."""
    db: Database
    driver: BlobDriver
    registry_id: int
    max_manifest_bytes: int
    repositories: RepositoryService
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    encryption: Encryption = Encryption()
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    max_manifest_references: int = DEFAULT_MAX_REFERENCES
    _scopes: dict[int, "Registry"] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, db: Database, driver: BlobDriver, max_manifest_bytes: int,
               registry_id: int, hashers: HasherCache | None = None,
               encryption: Encryption = Encryption(),
               grace_seconds: float = DEFAULT_GRACE_SECONDS,
               max_manifest_references: int = DEFAULT_MAX_REFERENCES) -> "Registry":
        """``grace_seconds``: how long garbage collection leaves an unreferenced blob, which
        bounds how long a push may take between storing a blob and linking it;
        ``max_manifest_references``: the blobs and manifests a manifest may list."""
        return cls(db=db, driver=driver, registry_id=registry_id,
                   max_manifest_bytes=max_manifest_bytes,
                   repositories=RepositoryService(db, registry_id),
                   blobs=BlobService(db, driver, registry_id, encryption, grace_seconds),
                   uploads=UploadService(db, driver, registry_id, hashers, encryption,
                                         grace_seconds),
                   manifests=ManifestService(db, registry_id, max_bytes=max_manifest_bytes,
                                             encryption=encryption,
                                             max_references=max_manifest_references),
                   encryption=encryption, grace_seconds=grace_seconds,
                   max_manifest_references=max_manifest_references)

    # -- what the ECR API manages besides the registry protocol's services ------------------
    @cached_property
    def images(self) -> "ImageService":
        from .images.service import ImageService  # it builds on this class

        return ImageService(self)

    @cached_property
    def repository_settings(self) -> RepositorySettingsService:
        return RepositorySettingsService(self.db, self.registry_id, self.encryption)

    @cached_property
    def resource_tags(self) -> RepositoryTagService:
        """A repository's resource tags (key-value labels, not image tags)."""
        return RepositoryTagService(self.db, self.registry_id)

    @cached_property
    def creation_templates(self) -> TemplateService:
        """The settings of repositories made on someone's behalf (a push's, a cache's...)."""
        return TemplateService(self.db, self.registry_id)

    @cached_property
    def account_settings(self) -> AccountSettings:
        return AccountSettings(self.db, self.registry_id)

    @cached_property
    def image_storage(self) -> "ImageStorage":
        """Images' storage class: archive and restore."""
        from .images.storage_class import ImageStorage

        return ImageStorage(self.db, self.registry_id)

    @cached_property
    def lifecycle(self) -> "LifecycleService":
        """Lifecycle policies and their previews (berth.lifecycle, a domain over this one)."""
        from ..lifecycle.services import LifecycleService

        return LifecycleService(self.db, self.registry_id)

    @cached_property
    def scanning(self) -> "ScanService":
        """Image scans and the scanning configuration (berth.scanning, a domain over this
        one)."""
        from ..scanning.services import ScanService

        return ScanService(self.db, self.registry_id)

    @cached_property
    def signing(self) -> "SigningService":
        """Managed signing's configuration and image statuses (berth.signing)."""
        from ..signing.services import SigningService

        return SigningService(self.db, self.registry_id)

    @cached_property
    def public_catalogs(self) -> "RepositoryCatalogs":
        """A public registry's repositories and their catalog data (berth.public)."""
        from ..public.services import RepositoryCatalogs

        return RepositoryCatalogs(self.db, self.registry_id, self.encryption)

    @cached_property
    def replication(self) -> "ReplicationConfigurations":
        """The registry's replication rules, and where its images were replicated."""
        from ..replication.configuration import ReplicationConfigurations

        return ReplicationConfigurations(self.db, self.registry_id)

    def replication_sites(self, secrets: Callable[[str], dict]) -> "Sites":
        """The other deployments this registry replicates to; ``secrets`` opens the secret
        holding a site's access key, by its ARN."""
        from ..replication.sites import Sites

        return Sites(self.db, self.registry_id, secrets)

    def addressed(self, account_id: str | None, region: str | None,
                  make: bool = False) -> "Registry":
        """The registry of ``account_id`` in ``region`` (each defaulting to this registry's);
        RegistryNotFound if there is none. ``make``: one the account has not used yet is
        made, as its first ECR call would (if the account exists and the region is
        well-formed)."""
        from ..storage.metadata import identities as identity_rows
        from ..storage.metadata import notifications as addresses
        from ..storage.metadata import registries as registry_rows

        if account_id is None and region is None:
            return self
        with self.db.read() as tx:
            own_account, own_region = addresses.registry_address(tx, self.registry_id)
            wanted = (own_account if account_id is None else account_id,
                      own_region if region is None else region)
            found = registry_rows.registry_id(tx, *wanted)
        if found is None and make and _REGION.fullmatch(wanted[1]):
            with self.db.write() as tx:
                if identity_rows.find_account(tx, "id", wanted[0]) is not None:
                    found = registry_rows.ensure_registry(tx, *wanted)
        if found is None:
            raise RegistryNotFound(*wanted)
        return self.scoped(found)

    # -- deployment-wide work (every registry's: the database is shared) -----------------
    def run_due_lifecycle_policies(self, interval: float) -> "list[RunReport]":
        """Every lifecycle policy, whichever registry's, that has not run for ``interval``
        seconds."""
        from ..lifecycle.tasks import run_due

        return run_due(self.db, interval)

    def usage_report(self, first: "date", last: "date", group_by: str,
                     account_id: str | None = None) -> dict:
        """Usage and its cost at the deployment's prices (``usage_pricing``, which the app
        factory sets; none: no cost)."""
        from ..usage.report import Pricing, usage_report

        pricing = getattr(self, "usage_pricing", None) or Pricing()
        return usage_report(self.db, first, last, group_by, account_id, pricing)

    def storage_usage(self, account_id: str | None = None) -> "list[RegistryUsage]":
        """Storage used per registry and repository, every account's or one's."""
        from .usage import storage_usage

        return storage_usage(self.db, account_id)

    def sample_storage(self) -> int:
        """Today's storage sample, taken now; the number of repositories sampled."""
        from ..usage.sampling import sample_storage

        return sample_storage(self.db)

    def import_advisories(self, paths: list[Path]) -> "list[SourceReport]":
        """OSV advisories into the vulnerability database (InvalidAdvisory if one is not)."""
        from ..scanning.services import import_advisories

        return import_advisories(self.db, paths)

    def vulnerability_sources(self) -> list[dict]:
        from ..scanning.vulndb.store import sources

        return sources(self.db)

    def scoped(self, registry_id: int) -> "Registry":
        if registry_id == self.registry_id:
            return self
        found = self._scopes.get(registry_id)
        if found is None:
            found = self._scopes[registry_id] = Registry.create(
                self.db, self.driver, self.max_manifest_bytes, registry_id,
                self.uploads.hashers, self.encryption, self.grace_seconds,
                self.max_manifest_references)
            found._scopes = self._scopes
        return found

    def close(self) -> None:
        self.driver.close()
        self.db.dispose()
