"""Blob uploads: sessions, streamed and chunked appends, verification and commit.

A blob becomes visible (a row in the metadata) only after all its bytes are written, fsynced,
verified against the digest and moved under their content address -- within the key that
seals the repository's blobs (its key ref), chosen when the upload starts and kept with it.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid

from ...concurrency import blocking, upload_work
from ...events import UPLOAD_COMPLETED, emit
from ...quotas import services as quotas
from ...quotas.models import QuotaExceeded
from ...storage.blobs import BlobDriver, BlobNotFound
from ...storage.blobs.keyring import join_key
from ...storage.blobs.segments import BlobCorrupted
from ...storage.errors import StorageFull
from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import repositories, uploads
from ...storage.metadata.database import Database
from ..errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    LayerExists,
    RangeInvalid,
    SizeInvalid,
)
from ..references import Digest, validate_name
from ..repositories.encryption import Encryption
from ..repositories.creation import open_for_push
from ..repositories.service import name_unknown
from . import layers
from .bodies import Body, Chunk, receive
from .expiry import expire_uploads
from .hashers import HasherCache

# How long an unreferenced blob is kept before garbage collection may remove it.
DEFAULT_GRACE_SECONDS = 3600.0
# Monolithic uploads up to this size are received whole and stored in one step.
SMALL_BLOB_BYTES = 1024 * 1024


class UploadService:
    def __init__(self, db: Database, driver: BlobDriver, registry_id: int,
                 hashers: HasherCache | None = None, encryption: Encryption = Encryption(),
                 grace_seconds: float = DEFAULT_GRACE_SECONDS):
        self.db = db
        self.driver = driver
        self.registry_id = registry_id
        self.hashers = hashers or HasherCache()
        self.encryption = encryption
        self.grace_seconds = grace_seconds  # of garbage collection: see _store

    # -- sessions --------------------------------------------------------------------------
    def start(self, repository: str, may_create: bool = True) -> str:
        """A new upload session; a push that starts so makes its repository (see
        creation.open_for_push: ``may_create`` is the pusher's leave)."""
        key_ref = self._key_ref(repository, may_create)
        upload_id = str(uuid.uuid4())
        state = self.driver.upload_start(upload_id, key_ref)
        try:
            with self.db.write(durable=False) as tx:
                uploads.create(tx, upload_id, self.registry_id, repository, state, key_ref)
        except BaseException:  # no row will ever name the driver's upload: drop it now
            self.driver.upload_abort(upload_id, state)
            raise
        self.hashers.put(upload_id, 0, hashlib.sha256())
        return upload_id

    def _key_ref(self, repository: str, may_create: bool) -> str:
        """The key a push into the repository seals with, making the repository first if the
        push may (CreationNeedsPermission or NameUnknown if not); KeyUnavailable if that key
        is disabled: the push is refused now."""
        with self.db.read() as tx:
            found = repositories.find(tx, self.registry_id, validate_name(repository))
        if found is None:
            with self.db.write() as tx:
                key_ref = open_for_push(tx, self.registry_id, repository, self.encryption,
                                        may_create)[1]
        else:
            key_ref = found.key_ref
        self.encryption.check(key_ref)
        return key_ref

    # -- for coroutines (the registry protocol's routes): the service picks the thread ----
    async def start_async(self, repository: str, may_create: bool = True) -> str:
        return await blocking(self.start, repository, may_create)

    async def status_async(self, repository: str, upload_id: str) -> int:
        return await blocking(self.status, repository, upload_id)

    async def cancel_async(self, repository: str, upload_id: str) -> None:
        await blocking(self.cancel, repository, upload_id)

    def status(self, repository: str, upload_id: str) -> int:
        return self._find(repository, upload_id).size

    def cancel(self, repository: str, upload_id: str) -> None:
        _, state, _ = self._load(repository, upload_id)
        self._forget(upload_id)
        self.driver.upload_abort(upload_id, state)

    def _load(self, repository: str, upload_id: str,
              existing: bool = False) -> tuple[int, dict, str]:
        """(size, driver state, key ref) of the repository's upload; with ``existing``,
        NameUnknown if the repository is gone."""
        found = self._find(repository, upload_id, existing)
        return found.size, json.loads(found.driver_state), found.key_ref

    def _find(self, repository: str, upload_id: str, existing: bool = False):
        """The repository's upload row (see ``_load``)."""
        with self.db.read() as tx:
            found = uploads.find(tx, upload_id)
            if existing and repositories.get_id(tx, self.registry_id, repository) is None:
                raise name_unknown(repository)
        if found is None or (found.registry_id, found.repository) != (self.registry_id,
                                                                       repository):
            raise BlobUploadUnknown(f"blob upload {upload_id!r} is unknown",
                                    {"upload": upload_id})
        return found

    # -- appends ---------------------------------------------------------------------------
    async def append(self, repository: str, upload_id: str, body: Body,
                     chunk: Chunk = Chunk(), as_layer: bool = False) -> int:
        """Append a chunk; ``as_layer``: ECR's layer part, whose repository must exist."""
        size, state, _ = await blocking(self._load, repository, upload_id, as_layer)
        _check_start(chunk, size)
        hasher = self.hashers.take(upload_id, size)
        new_size, new_state = await self._write(upload_id, state, size, body, hasher, chunk)
        try:
            advanced = await blocking(self._advance, upload_id, size, new_size, new_state,
                                      as_layer)
        except StorageFull:  # the bytes were written, the size cannot be: keep neither
            await upload_work(self.driver.upload_abort, upload_id, new_state)
            raise
        if not advanced:
            await blocking(self._load, repository, upload_id)  # BlobUploadUnknown if gone
            raise RangeInvalid("a concurrent write moved the upload", {"size": size})
        if hasher is not None:
            self.hashers.put(upload_id, new_size, hasher)
        return new_size

    async def _write(self, upload_id, state, size, body: Body, hasher, chunk: Chunk):
        try:
            writer = await blocking(self.driver.upload_writer, upload_id, state, size)
        except BlobNotFound:
            raise BlobUploadUnknown(f"blob upload {upload_id!r} is unknown") from None
        finished = False
        try:
            result = await receive(writer, hasher, body, chunk.length)
            finished = True
            return result
        finally:
            if not finished:
                await upload_work(writer.abort)

    def _advance(self, upload_id: str, old: int, new: int, state: dict,
                 part: bool = False) -> bool:
        """``part``: an ECR API layer part, counted against the LayerParts quota."""
        with self.db.write(durable=False) as tx:
            # Refused as it grows; the session stays as it was (a retry is refused alike, and
            # what it has so far may still be completed).
            quotas.check_layer_size(tx, self.registry_id, new)
            if part:
                row = uploads.find(tx, upload_id)
                quotas.check_parts(tx, self.registry_id, (row.parts if row else 0) + 1)
            return uploads.advance(tx, upload_id, old, new, state, part,
                                   layers.MIN_PART_BYTES)

    # -- completion ------------------------------------------------------------------------
    async def complete(self, repository: str, upload_id: str, digest: Digest,
                       body: Body | None = None, chunk: Chunk = Chunk(),
                       as_layer: bool = False) -> Digest:
        """Verify and commit. A final chunk in ``body`` joins the upload only if the whole
        then matches the digest: a failed completion leaves the session as it was.
        ``as_layer``: ECR's layer upload, which never creates the repository and refuses an
        empty upload (EmptyUpload), parts but the last under ECR's minimum
        (LayerPartTooSmall) and a layer the repository has (LayerExists)."""
        size, state, key_ref = await blocking(self._load_layer if as_layer else self._load,
                                              repository, upload_id)
        _check_start(chunk, size)
        hasher = self.hashers.take(upload_id, size)
        if hasher is None or hasher.name != digest.algorithm:
            hasher = await blocking(self._rehash, upload_id, state, size, digest, key_ref)
        if body is not None:
            size, state = await self._write(upload_id, state, size, body, hasher, chunk)
        _verify(hasher, digest)
        try:
            await blocking(self._commit, repository, upload_id, state, size, digest, key_ref,
                           as_layer)
        except StorageFull:  # the metadata has no room: the upload's bytes go at once
            await upload_work(self.driver.upload_abort, upload_id, state)
            raise
        return digest

    def _load_layer(self, repository: str, upload_id: str) -> tuple[int, dict, str]:
        """``_load`` for ECR's CompleteLayerUpload, with its refusals (layers.py)."""
        found = self._find(repository, upload_id, existing=True)
        layers.check_completable(found, upload_id)
        return found.size, json.loads(found.driver_state), found.key_ref

    async def upload_whole(self, repository: str, digest: Digest, body: Body,
                           chunk: Chunk = Chunk(), may_create: bool = True) -> Digest:
        """Monolithic upload: one request carries the blob. It needs no session row: should
        the process die midway, the expiry sweep finds the driver's orphaned upload. The
        repository is made (or refused) before the body is read."""
        key_ref = await blocking(self._key_ref, repository, may_create)
        if chunk.length is not None and chunk.length <= SMALL_BLOB_BYTES:
            data = b"".join([part async for part in body])
            if len(data) != chunk.length:
                raise SizeInvalid(f"received {len(data)} bytes, expected {chunk.length}")
            await blocking(self._put_small, repository, digest, data, key_ref)
            return digest
        upload_id = str(uuid.uuid4())
        state = await blocking(self.driver.upload_start, upload_id, key_ref)
        committed = False
        try:
            hasher = digest.hasher()
            size, state = await self._write(upload_id, state, 0, body, hasher, chunk)
            _verify(hasher, digest)
            await blocking(self._commit, repository, upload_id, state, size, digest, key_ref,
                           False, False)
            committed = True
            return digest
        finally:
            if not committed:
                await blocking(self.driver.upload_abort, upload_id, state)

    def put_small(self, repository: str, digest: Digest, data: bytes,
                  may_create: bool = True) -> None:
        """A small blob in one step (one hop off the event loop: that is most of its cost)."""
        self._put_small(repository, digest, data, self._key_ref(repository, may_create))

    def _put_small(self, repository: str, digest: Digest, data: bytes, key_ref: str) -> None:
        _verify(_hash([data], digest.algorithm), digest)
        self._keep(digest, len(data), key_ref, lambda key: self.driver.put(key, data),
                   lambda: self._record(repository, digest, len(data), key_ref))

    def _keep(self, digest: Digest, size: int, key_ref: str, write, record, skip=None):
        """Store, then link; once more if the pin lapsed in between (a write slowed by
        load): pinned again, the bytes are checked, and written again if a collector took
        them (a streamed upload's are gone then: BlobUploadUnknown, the client retries)."""
        for last in (False, True):
            self._store(digest, size, key_ref, write, skip)
            try:
                return record()
            except _PinLapsed:
                if last:
                    raise

    def _store(self, digest: Digest, size: int, key_ref: str, write, skip=None) -> None:
        """Put the object's bytes in place unless they are there already. The object row is
        pinned first, in its own transaction: a garbage collector deleting these bytes now
        holds the row, so the pin waits until it is done (and the bytes are written again
        below); once pinned, no collector takes the object within the grace period, in which
        ``_record`` must link it (it checks that it still can). The pin need not wait for
        the disk: the link's durable commit comes later and carries it."""
        with self.db.write(durable=False) as tx:
            blob_rows.pin(tx, key_ref, str(digest), size)
        key = join_key(key_ref, digest.key)
        if _stored_size(self.driver, key) == size:
            if skip is not None:
                skip()
        else:
            write(key)

    def _rehash(self, upload_id: str, state: dict, size: int, digest: Digest, key_ref: str):
        try:
            return _hash(self.driver.upload_read(upload_id, state, size), digest.algorithm)
        except BlobNotFound:
            pass
        # A crash between moving the upload into place and recording it leaves the bytes
        # under their key: verify them there, and the completion can still go through.
        key = join_key(key_ref, digest.key)
        if self.driver.stat(key) == size:
            return _hash(self.driver.read(key), digest.algorithm)
        raise BlobUploadUnknown(f"blob upload {upload_id!r} is unknown")

    def _commit(self, repository: str, upload_id: str, state: dict, size: int,
                digest: Digest, key_ref: str, as_layer: bool = False,
                session: bool = True) -> None:
        """``session``: the upload has a row (a monolithic one has none)."""
        self.encryption.check(key_ref)  # a disabled key refuses the push, stored or not
        try:
            with self.db.read() as tx:  # small blobs (put_small) are far below any layer quota
                quotas.check_layer_size(tx, self.registry_id, size)
        except QuotaExceeded:  # it can never complete: its bytes and session go now
            self.driver.upload_abort(upload_id, state)
            if session:
                self._forget(upload_id)
            raise

        def commit(key: str) -> None:
            try:
                self.driver.upload_commit(upload_id, state, size, key)
            except BlobNotFound:
                raise BlobUploadUnknown(f"blob upload {upload_id!r} is unknown") from None

        # Content already stored: the upload's bytes are not needed.
        try:
            self._keep(digest, size, key_ref, commit,
                       lambda: self._record(repository, digest, size, key_ref,
                                            upload_id if session else None, as_layer),
                       skip=lambda: self.driver.upload_abort(upload_id, state))
        except (LayerExists, QuotaExceeded, BlobUploadUnknown):
            if session:
                self._forget(upload_id)  # its bytes are gone: committed, dropped or taken
            raise

    def _forget(self, upload_id: str) -> None:
        with self.db.write(durable=False) as tx:
            uploads.remove(tx, upload_id)
        self.hashers.discard(upload_id)

    def _record(self, repository: str, digest: Digest, size: int, key_ref: str,
                upload_id: str | None = None, as_layer: bool = False) -> None:
        """Link the stored blob into its repository, made when the push started (``as_layer``:
        see ``complete``)."""
        with self.db.write() as tx:
            if as_layer:
                repo_id, repo_key = layers.target(tx, self.registry_id, repository, digest)
            else:
                repo_id, repo_key = self._push_target(tx, repository, upload_id)
            if repo_key != key_ref:  # deleted and made again with another key meanwhile
                raise BlobUploadInvalid(f"the repository {repository!r} was made again with "
                                        "another encryption key during the upload")
            # The link's row, then the object's: the order garbage collection takes them in.
            blob_rows.link(tx, repo_id, str(digest), size)
            quotas.check_storage(tx, self.registry_id, repo_id, repository)
            if not blob_rows.hold(tx, key_ref, str(digest), safe_after(self.grace_seconds)):
                # Pinned longer ago than the grace period: a collector may have taken it.
                raise _PinLapsed(f"blob {digest} was not linked in time; upload it again",
                                 {"digest": str(digest)})
            # Last, in the repository's lock order: an upload that deleting the repository
            # cancelled fails here, and the repository this made again is rolled back.
            if upload_id and not uploads.remove(tx, upload_id):
                raise BlobUploadUnknown(f"blob upload {upload_id!r} is unknown",
                                        {"upload": upload_id})
            emit(tx, UPLOAD_COMPLETED, self.registry_id, repository, repositoryId=repo_id,
                 digest=str(digest), size=size)

    def _push_target(self, tx, repository: str, upload_id: str | None) -> tuple[int, str]:
        found = repositories.find(tx, self.registry_id, repository)
        if found is None:  # deleted since the push began, which ended its session
            raise (BlobUploadUnknown(f"blob upload {upload_id!r} is unknown",
                                     {"upload": upload_id}) if upload_id
                   else name_unknown(repository))
        return found.id, found.key_ref

    # -- housekeeping ----------------------------------------------------------------------
    def expire(self, ttl_seconds: float, now: float | None = None) -> int:
        """Abort uploads idle longer than the TTL, and driver uploads nobody tracks."""
        return expire_uploads(self.db, self.driver, self.hashers, ttl_seconds, now)


class _PinLapsed(BlobUploadUnknown):
    """The object's pin is older than a link may rely on (see ``safe_after``)."""


def safe_after(grace_seconds: float) -> float:
    """The oldest pin a link may still rely on: half the grace period back, leaving the
    other half for clocks that disagree between nodes."""
    return time.time() - grace_seconds / 2


def _stored_size(driver: BlobDriver, key: str) -> int | None:
    """The size of what is stored under ``key``; None if nothing usable is (a truncated
    sealed object is written again, not trusted)."""
    try:
        return driver.stat(key)
    except BlobCorrupted:
        return None


def _verify(hasher, digest: Digest) -> None:
    if hasher.hexdigest() != digest.hex:
        raise DigestInvalid(f"content does not match digest {digest}", {"digest": str(digest)})


def _check_start(chunk: Chunk, size: int) -> None:
    if chunk.start is not None and chunk.start != size:
        raise RangeInvalid(f"chunk starts at {chunk.start}, upload is at {size}", {"size": size})


def _hash(chunks, algorithm: str):
    hasher = hashlib.new(algorithm)
    for data in chunks:
        hasher.update(data)
    return hasher
