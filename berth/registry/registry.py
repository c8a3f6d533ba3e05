"""The registry's services wired over one metadata database and one blob driver."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

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
from .settings import AccountSettings

if TYPE_CHECKING:
    from ..lifecycle.services import LifecycleService
    from ..public.services import RepositoryCatalogs
    from ..scanning.services import ScanService
    from ..signing.services import SigningService
    from .images.service import ImageService
    from .images.storage_class import ImageStorage


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
