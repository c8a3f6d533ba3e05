"""Blobs as a repository sees them: linked digests over one content-addressed store, keyed
within the key that seals the repository's blobs (its key ref)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..storage.blobs import BlobDriver, BlobNotFound
from ..storage.blobs.keyring import join_key
from ..storage.metadata import blobs as blob_rows
from ..storage.metadata import repositories
from ..storage.metadata.database import Database
from .concurrency import quick_read
from .encryption import Encryption
from .errors import BlobReferenced, BlobUnknown, NameUnknown
from .references import Digest
from .references import validate_name
from .repositories import open_for_push, push_target, require_id


@dataclass(frozen=True)
class StoredBlob:
    """A blob linked in a repository: its size and where its content is stored."""
    digest: Digest
    size: int
    key_ref: str

    @property
    def key(self) -> str:
        return join_key(self.key_ref, self.digest.key)


class BlobService:
    def __init__(self, db: Database, driver: BlobDriver, registry_id: int,
                 encryption: Encryption = Encryption()):
        self.db = db
        self.driver = driver
        self.registry_id = registry_id
        self.encryption = encryption

    def find(self, repository: str, digest: Digest) -> StoredBlob:
        """The blob linked in the repository (one query: link, size and key ref)."""
        repo_id, size, key_ref = blob_rows.stat(self.db, self.registry_id, repository,
                                                str(digest))
        if repo_id is None:
            raise NameUnknown(f"repository {repository!r} is not known to the registry",
                              {"name": repository})
        if size is None:
            raise BlobUnknown(f"blob {digest} is unknown to repository {repository!r}",
                              {"digest": str(digest)})
        return StoredBlob(digest, size, key_ref)

    async def find_async(self, repository: str, digest: Digest) -> StoredBlob:
        return await quick_read(self.db.inline_reads, self.find, repository, digest)

    def stat(self, repository: str, digest: Digest) -> int:
        """Size of a blob linked in the repository."""
        return self.find(repository, digest).size

    async def stat_async(self, repository: str, digest: Digest) -> int:
        return (await self.find_async(repository, digest)).size

    def read(self, blob: StoredBlob, offset: int, length: int) -> Iterator[bytes]:
        """The bytes, with the first chunk already read: a missing blob or an unusable key
        (KeyUnavailable) is raised here, before a response has started."""
        if length == 0:
            self.encryption.check(blob.key_ref)
            return iter(())
        try:
            chunks = self.driver.read(blob.key, offset, length)
            first = next(chunks, None)
        except BlobNotFound:
            raise BlobUnknown(f"blob {blob.digest} content is missing",
                              {"digest": str(blob.digest)}) from None
        return _prefetched(first, chunks)

    def file_or_read(self, blob: StoredBlob, offset: int, length: int) -> int | Iterator[bytes]:
        """A descriptor on a local file holding the blob's bytes as they are (for sendfile;
        the caller closes it), else what ``read`` gives: one call, one hop off the loop."""
        try:
            fd = self.driver.open_file(blob.key)
        except BlobNotFound:
            raise BlobUnknown(f"blob {blob.digest} content is missing",
                              {"digest": str(blob.digest)}) from None
        return fd if fd is not None else self.read(blob, offset, length)

    def find_readable(self, repository: str, digest: Digest) -> StoredBlob:
        """find, and KeyUnavailable if the blob's key is disabled (to refuse handing out a
        URL that could not be served)."""
        blob = self.find(repository, digest)
        self.encryption.check(blob.key_ref)
        return blob

    def redirect_url(self, blob: StoredBlob, expires_in: int) -> str | None:
        return self.driver.redirect_url(blob.key, expires_in)

    def mount(self, repository: str, digest: Digest, source: str) -> bool:
        """Link a blob of ``source`` into ``repository``; False if the source lacks it, or
        seals its blobs with another key than ``repository`` does (the client then uploads
        the blob, which is stored again under this repository's key)."""
        with self.db.write() as tx:
            found = repositories.find(tx, self.registry_id, validate_name(source))
            if found is None or blob_rows.size_in_repository(tx, found.id, str(digest)) is None:
                return False
            # The target's key, or the one a push would make it with ...
            _, key_ref = push_target(tx, self.registry_id, repository,
                                     self.encryption.default_ref)
            if key_ref == found.key_ref:  # ... and the one it has once made (a race's)
                repo_id, key_ref = open_for_push(tx, self.registry_id, repository, key_ref)
            if key_ref != found.key_ref:
                return False
            blob_rows.link(tx, repo_id, str(digest))
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


def _prefetched(first: bytes | None, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``first`` then the rest; closing it closes the driver's iterator."""
    try:
        if first is not None:
            yield first
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
