"""Blobs as a repository sees them: linked digests over one content-addressed store, keyed
within the key that seals the repository's blobs (its key ref)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

from ...concurrency import blocking, quick_read, read_ahead, read_work
from ...events import BLOB_MOUNTED, BLOB_UNLINKED, emit
from ...quotas import services as quotas
from ...storage.blobs import BlobDriver, BlobNotFound, StorageFull
from ...storage.blobs.keyring import join_key
from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import repositories
from ...storage.metadata.database import Database
from ..errors import BlobReferenced, BlobUnknown, DigestInvalid, NameUnknown
from ..references import Digest, validate_name
from ..repositories.encryption import Encryption
from ..repositories.creation import open_for_push
from ..repositories.service import require_id
from .uploads import DEFAULT_GRACE_SECONDS, safe_after


@dataclass(frozen=True)
class StoredBlob:
    """A blob linked in a repository: its size and where its content is stored."""
    digest: Digest
    size: int
    key_ref: str
    repository_id: int = 0

    @property
    def key(self) -> str:
        return join_key(self.key_ref, self.digest.key)


class BlobService:
    def __init__(self, db: Database, driver: BlobDriver, registry_id: int,
                 encryption: Encryption = Encryption(),
                 grace_seconds: float = DEFAULT_GRACE_SECONDS):
        self.db = db
        self.driver = driver
        self.registry_id = registry_id
        self.encryption = encryption
        self.grace_seconds = grace_seconds

    def find(self, repository: str, digest: Digest) -> StoredBlob:
        """The blob linked in the repository (one query: link, size and key ref)."""
        blob, waiting = self._find(repository, digest)
        if waiting:
            self._touch(blob)
        return blob

    async def find_async(self, repository: str, digest: Digest) -> StoredBlob:
        blob, waiting = await quick_read(self.db.inline_reads, self._find, repository, digest)
        if waiting:
            await blocking(self._touch, blob)
        return blob

    async def find_named_async(self, repository: str, reference: str) -> StoredBlob:
        """find_async for a digest as a pull names it. A malformed one names no blob:
        BlobUnknown (NameUnknown for an unknown repository), the 404 the spec gives a pull;
        DIGEST_INVALID is for pushes."""
        try:
            digest = Digest.parse(reference)
        except DigestInvalid:
            raise await quick_read(self.db.inline_reads, self._absent, repository,
                                   reference) from None
        return await self.find_async(repository, digest)

    def _absent(self, repository: str, reference: str) -> NameUnknown | BlobUnknown:
        if blob_rows.stat(self.db, self.registry_id, repository, "")[0] is None:
            return _unknown_repository(repository)
        return BlobUnknown(f"blob {reference!r} is unknown to repository {repository!r}",
                           {"digest": reference})

    def _find(self, repository: str, digest: Digest) -> tuple[StoredBlob, bool]:
        """The blob, and whether its link is unlisted by any manifest and half way through
        its grace period: a client that asks for it is likely about to push a manifest
        listing it, so its wait starts again (one write, only then)."""
        repo_id, size, key_ref, unlisted_since = blob_rows.stat(
            self.db, self.registry_id, repository, str(digest))
        if repo_id is None:
            raise _unknown_repository(repository)
        if size is None:
            raise BlobUnknown(f"blob {digest} is unknown to repository {repository!r}",
                              {"digest": str(digest)})
        waiting = (unlisted_since is not None
                   and unlisted_since < time.time() - self.grace_seconds / 2)
        return StoredBlob(digest, size, key_ref, repo_id), waiting

    def _touch(self, blob: StoredBlob) -> None:
        """Restart the blob's wait; a full metadata database leaves it as it is (a pull
        never fails for this bookkeeping; the refusal is counted and logged)."""
        try:
            self._restart_wait(blob)
        except StorageFull:
            pass

    def _restart_wait(self, blob: StoredBlob) -> None:
        with self.db.write(durable=False) as tx:
            if not blob_rows.touch_link(tx, blob.repository_id, str(blob.digest)):
                # Collected meanwhile (or listed, which a second look tells apart).
                if blob_rows.size_in_repository(tx, blob.repository_id,
                                                str(blob.digest)) is None:
                    raise BlobUnknown(f"blob {blob.digest} is unknown to the repository",
                                      {"digest": str(blob.digest)})

    def stat(self, repository: str, digest: Digest) -> int:
        """Size of a blob linked in the repository."""
        return self.find(repository, digest).size

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

    # -- for coroutines (the registry protocol's routes): the service picks the thread ----
    async def sendable(self, blob: StoredBlob, offset: int, length: int
                       ) -> int | Iterator[bytes]:
        """``file_or_read`` in the read pool, for a response sent by a thread."""
        return await read_work(self.file_or_read, blob, offset, length)

    async def read_async(self, blob: StoredBlob, offset: int,
                         length: int) -> AsyncIterator[bytes]:
        """``read``'s chunks for the event loop, each read in the read pool while the one
        before is sent (errors of the first before a response starts, as ``read``'s)."""
        return read_ahead(await read_work(self.read, blob, offset, length))

    async def mount_async(self, repository: str, digest: Digest, source: str,
                          may_create: bool = True) -> bool:
        return await blocking(self.mount, repository, digest, source, may_create)

    async def unlink_async(self, repository: str, digest: Digest) -> None:
        await blocking(self.unlink, repository, digest)

    def mount(self, repository: str, digest: Digest, source: str,
              may_create: bool = True) -> bool:
        """Link a blob of ``source`` into ``repository`` (made now if a push may make it:
        creation.open_for_push); False if the source lacks it, or seals its blobs with
        another key than ``repository`` does (the client then uploads the blob, which is
        stored again under this repository's key)."""
        try:
            with self.db.write() as tx:
                self._mount(tx, repository, digest, source, may_create)
        except _NotMounted:
            return False
        return True

    def _mount(self, tx, repository: str, digest: Digest, source: str,
               may_create: bool) -> None:
        found = repositories.find(tx, self.registry_id, validate_name(source))
        size = None if found is None else blob_rows.size_in_repository(tx, found.id,
                                                                       str(digest))
        if size is None:
            raise _NotMounted()
        # A repository made here with another key than the source's is rolled back.
        repo_id, key_ref = open_for_push(tx, self.registry_id, repository, self.encryption,
                                         may_create)
        if key_ref != found.key_ref:
            raise _NotMounted()
        self._link(tx, repo_id, repository, key_ref, digest, size, source)

    def link_stored(self, repository: str, digest: Digest, size: int, key_ref: str) -> bool:
        """Link into the (existing) repository a blob stored under its key already (another
        registry's, which a replica shares); False if the repository seals with another key
        or the object may be gone (then its bytes are copied instead)."""
        try:
            with self.db.write() as tx:
                found = repositories.find(tx, self.registry_id, repository)
                if found is None or found.key_ref != key_ref:
                    raise _NotMounted()
                self._link(tx, found.id, repository, key_ref, digest, size, None)
        except _NotMounted:
            return False
        return True

    def _link(self, tx, repo_id: int, repository: str, key_ref: str, digest: Digest,
              size: int, source: str | None) -> None:
        # The link's row, then the object's (a collector deleting it went first, or finds
        # it held): the order garbage collection takes them in.
        blob_rows.link(tx, repo_id, str(digest), size)
        quotas.check_storage(tx, self.registry_id, repo_id, repository)
        if not blob_rows.hold(tx, key_ref, str(digest), safe_after(self.grace_seconds)):
            raise _NotMounted()
        emit(tx, BLOB_MOUNTED, self.registry_id, repository, repositoryId=repo_id,
             digest=str(digest), size=size, **{"from": source})

    def unlink(self, repository: str, digest: Digest) -> None:
        """Remove the blob from the repository; its content stays for garbage collection."""
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            # The row first: a manifest put holding it commits before, and the check below
            # (a statement of its own, so it sees that commit) then refuses.
            if not blob_rows.unlink(tx, repo_id, str(digest)):
                raise BlobUnknown(f"blob {digest} is unknown to repository {repository!r}",
                                  {"digest": str(digest)})
            parent = blob_rows.referencing_manifest(tx, repo_id, str(digest))
            if parent is not None:
                raise BlobReferenced(f"blob {digest} is referenced by manifest {parent}",
                                     {"digest": str(digest), "manifest": parent})
            emit(tx, BLOB_UNLINKED, self.registry_id, repository, repositoryId=repo_id,
                 digest=str(digest))


def _unknown_repository(repository: str) -> NameUnknown:
    return NameUnknown(f"repository {repository!r} is not known to the registry",
                       {"name": repository})


class _NotMounted(Exception):
    """The mount cannot be made: its transaction rolls back and the client uploads."""


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
