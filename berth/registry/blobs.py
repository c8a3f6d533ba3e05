"""Blobs as a repository sees them: linked digests over one content-addressed store."""
from __future__ import annotations

from typing import Iterator

from ..storage.blobs import BlobDriver, BlobNotFound
from ..storage.metadata import blobs as blob_rows
from ..storage.metadata import repositories
from ..storage.metadata.database import Database
from .concurrency import quick_read
from .errors import BlobReferenced, BlobUnknown, NameUnknown
from .references import Digest
from .references import validate_name
from .repositories import create_on_push, require_id


class BlobService:
    def __init__(self, db: Database, driver: BlobDriver, registry_id: int):
        self.db = db
        self.driver = driver
        self.registry_id = registry_id

    def stat(self, repository: str, digest: Digest) -> int:
        """Size of a blob linked in the repository."""
        repo_id, size = blob_rows.stat(self.db, self.registry_id, repository, str(digest))
        if repo_id is None:
            raise NameUnknown(f"repository {repository!r} is not known to the registry",
                              {"name": repository})
        if size is None:
            raise BlobUnknown(f"blob {digest} is unknown to repository {repository!r}",
                              {"digest": str(digest)})
        return size

    async def stat_async(self, repository: str, digest: Digest) -> int:
        return await quick_read(self.db.inline_reads, self.stat, repository, digest)

    def read(self, digest: Digest, offset: int, length: int) -> Iterator[bytes]:
        try:
            return self.driver.read(digest.key, offset, length)
        except BlobNotFound:
            raise BlobUnknown(f"blob {digest} content is missing",
                              {"digest": str(digest)}) from None

    def redirect_url(self, digest: Digest, expires_in: int) -> str | None:
        return self.driver.redirect_url(digest.key, expires_in)

    def mount(self, repository: str, digest: Digest, source: str) -> bool:
        """Link a blob of ``source`` into ``repository``; False if the source lacks it."""
        with self.db.write() as tx:
            source_id = repositories.get_id(tx, self.registry_id, validate_name(source))
            if source_id is None or blob_rows.size_in_repository(
                    tx, source_id, str(digest)) is None:
                return False
            blob_rows.link(tx, create_on_push(tx, self.registry_id, repository), str(digest))
        return True

    def unlink(self, repository: str, digest: Digest) -> None:
        """Remove the blob from the repository; its content stays for garbage collection."""
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            parent = blob_rows.referencing_manifest(tx, repo_id, str(digest))
            if parent is not None:
                raise BlobReferenced(f"blob {digest} is referenced by manifest {parent}",
                                     {"digest": str(digest), "manifest": parent})
            if not blob_rows.unlink(tx, repo_id, str(digest)):
                raise BlobUnknown(f"blob {digest} is unknown to repository {repository!r}",
                                  {"digest": str(digest)})

