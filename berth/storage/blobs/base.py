"""The blob driver interface: committed content by key, plus resumable uploads.

Shaped after CNCF Distribution's storage drivers, and for object stores: an upload is written
in appends (multipart parts on S3) and becomes visible under its key only on commit. Drivers
know nothing of digests or repositories; the domain decides keys and verifies content.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator

# Large reads keep per-chunk Python overhead negligible.
READ_CHUNK = 1024 * 1024

UploadState = dict[str, Any]


@dataclass(frozen=True)
class StoredObject:
    """A committed blob as the storage holds it (BlobDriver.walk)."""
    key: str
    size: int        # stored bytes (for an encrypted blob, the sealed size)
    modified: float  # epoch seconds of the last write under this key (put or commit)


def check_prefix(prefix: str) -> None:
    """Refuse a walk prefix that could leave the driver's keys (as keys are refused)."""
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise ValueError(f"invalid blob key prefix {prefix!r}")


class BlobNotFound(Exception):
    """No committed blob (or no upload) under that key."""


class UploadTooLarge(Exception):
    """The upload outgrew what the storage can hold as one object."""


# A driver that can tell its storage has no room left (the filesystem's) raises
# berth.storage.errors.StorageFull (re-exported by this package) for such a write, having
# removed what it was writing -- the upload (BlobNotFound after), a put's temporary copy --
# rather than leave it to the expiry sweep.


class UploadWriter(ABC):
    """Appends bytes to an upload. ``finish`` persists them as far as the driver's storage
    needs for another node to continue the upload, and returns the new state; durability
    against power loss is only promised for committed blobs."""

    @abstractmethod
    def write(self, chunks: list[bytes]) -> None:
        """Append the chunks in order (one call per batch keeps syscalls and hops few)."""

    @abstractmethod
    def finish(self) -> tuple[int, UploadState]:
        """Flush and persist; returns (total size, driver state to store with the upload)."""

    @abstractmethod
    def abort(self) -> None:
        """Release the writer; bytes written since it opened are discarded or ignored."""


class BlobDriver(ABC):
    name: str

    # -- committed blobs -------------------------------------------------------------------
    @abstractmethod
    def stat(self, key: str) -> int | None:
        """Size of the committed blob, or None."""

    @abstractmethod
    def read(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the bytes [offset, offset+length). Raises BlobNotFound."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store a small blob whole, durably and atomically (visible complete or not at all)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a committed blob; absent keys are not an error."""

    def delete_many(self, keys: list[str]) -> list[str]:
        """Remove several committed blobs (in as few requests as the storage allows); returns
        the keys it could not remove. Absent keys are not an error."""
        failed = []
        for key in keys:
            try:
                self.delete(key)
            except Exception:  # reported to the caller, which keeps what it could not free
                failed.append(key)
        return failed

    @abstractmethod
    def walk(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every committed blob whose key starts with ``prefix`` (a key prefix such as
        "aes256/" or "sha256/ab/"; "" for all), in no particular order, lazily (constant
        memory whatever the number of blobs). Upload sessions and temporary files are never
        listed. Keys are exactly the keys given to put/upload_commit; size is the stored size.
        For garbage collection of objects no metadata row knows. Raises ValueError for a
        prefix no key could have (leading "/", a ".." component)."""

    def open_file(self, key: str) -> int | None:
        """An open descriptor on a local file holding exactly the blob's bytes (to serve them
        with sendfile; the caller closes it), or None if the driver stores none such.
        Raises BlobNotFound."""
        return None

    def redirect_url(self, key: str, expires_in: int) -> str | None:
        """A URL a client may fetch the blob from directly, or None if not supported.
        Computed locally (presigning), so it may run on the event loop."""
        return None

    # -- uploads ---------------------------------------------------------------------------
    @abstractmethod
    def upload_start(self, upload_id: str, key_ref: str = "") -> UploadState:
        """Begin an upload whose blob will be committed under a key with this key ref
        (berth.storage.blobs.keyring); plain drivers ignore it, the encrypting one keys by it."""

    @abstractmethod
    def upload_writer(self, upload_id: str, state: UploadState, offset: int) -> UploadWriter:
        """A writer appending at ``offset`` (the acknowledged size); later bytes are dropped."""

    @abstractmethod
    def upload_read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        """The first ``size`` bytes of an upload, to verify its digest."""

    @abstractmethod
    def upload_commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        """Make the first ``size`` bytes visible under ``key`` atomically; the upload is gone."""

    @abstractmethod
    def upload_abort(self, upload_id: str, state: UploadState) -> None:
        """Discard an upload; absent uploads are not an error."""

    @abstractmethod
    def upload_ids_older_than(self, timestamp: float) -> list[str]:
        """Uploads untouched since ``timestamp``, including ones the metadata lost track of."""

    def check(self) -> None:
        """Raise if the storage is unreachable (readiness)."""

    def close(self) -> None:
        """Release resources."""
