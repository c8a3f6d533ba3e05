"""The registry's services wired over one metadata database and one blob driver."""
from __future__ import annotations

from dataclasses import dataclass

from ..storage.blobs import BlobDriver
from ..storage.metadata.database import Database
from .blobs import BlobService
from .manifests import ManifestService
from .repositories import RepositoryService
from .uploads import UploadService


@dataclass
class Registry:
    db: Database
    driver: BlobDriver
    repositories: RepositoryService
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService

    @classmethod
    def create(cls, db: Database, driver: BlobDriver, max_manifest_bytes: int) -> "Registry":
        return cls(db=db, driver=driver, repositories=RepositoryService(db),
                   blobs=BlobService(db, driver), uploads=UploadService(db, driver),
                   manifests=ManifestService(db, max_bytes=max_manifest_bytes))

    def close(self) -> None:
        self.driver.close()
        self.db.dispose()
