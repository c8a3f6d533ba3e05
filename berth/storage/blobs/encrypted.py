"""Envelope encryption of blobs at rest, around any driver.

Keys with a key ref (``aes256/sha256/ab/...``, see keyring.py) are stored encrypted in the
format of segments.py: a fresh data key per object, wrapped by the keyring. Keys without one
pass through to the inner driver as they are. Uploads are encrypted as they are written: full
segments go to the inner upload, the partial last segment stays sealed in the upload state
(JSON in the metadata database) until more bytes complete it or commit seals it as the final
segment. No plaintext reaches the inner driver, nor the upload state.

KeyUnavailable from the keyring propagates unchanged, before any byte is returned or stored.
"""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Iterator

from .base import READ_CHUNK, BlobDriver, BlobNotFound, StoredObject, UploadState, UploadWriter
from .keyring import KEY_REF, Keyring
from .segments import (HEADER_SIZE, SEALED_SIZE, SEGMENT_SIZE, SegmentCipher, open_segments,
                       pack_header, plain_size, rechunk, seal_whole, stored_size,
                       unpack_header, upload_stored_size)

# Inner reads of whole segments, about 1 MiB each.
_INNER_CHUNK = 16 * SEALED_SIZE


def split_blob_key(key: str) -> str:
    """The key ref of a blob key ("" for plain keys); a key ref with no valid key after
    it is refused rather than stored as a plain key."""
    head, _, rest = key.partition("/")
    if not KEY_REF.match(head):
        return ""
    if not rest or rest.startswith("/") or ".." in rest.split("/"):
        raise ValueError(f"invalid blob key {key!r}")
    return head


@dataclass
class _Upload:
    """An encrypted upload's state: what the metadata database keeps between requests."""
    key_ref: str
    wrapped: bytes
    size: int
    sealed_tail: bytes
    inner: UploadState

    @property
    def header(self) -> bytes:
        return pack_header(self.key_ref, self.wrapped)

    @property
    def full_segments(self) -> int:
        return self.size // SEGMENT_SIZE

    def to_state(self) -> UploadState:
        b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
        return {"inner": self.inner, "encryption": {
            "key_ref": self.key_ref, "wrapped": b64(self.wrapped), "size": self.size,
            "tail": b64(self.sealed_tail)}}

    @classmethod
    def from_state(cls, state: UploadState) -> "_Upload | None":
        enc = state.get("encryption") if "inner" in state else None
        if enc is None:
            return None
        return cls(enc["key_ref"], base64.b64decode(enc["wrapped"]), int(enc["size"]),
                   base64.b64decode(enc["tail"]), state["inner"])


def _inner_state(state: UploadState) -> UploadState:
    # States without our envelope are the inner driver's own (plain uploads started
    # before encryption was configured, or {} for uploads the metadata lost track of).
    return state["inner"] if "inner" in state and "encryption" in state else state


class EncryptedDriver(BlobDriver):
    def __init__(self, inner: BlobDriver, keyring: Keyring):
        self.inner = inner
        self.keyring = keyring
        self.name = f"encrypted-{inner.name}"

    def _cipher(self, key_ref: str, wrapped: bytes) -> SegmentCipher:
        data_key = self.keyring.unwrap(key_ref, wrapped)
        return SegmentCipher(data_key, pack_header(key_ref, wrapped))

    # -- committed blobs -------------------------------------------------------------------
    def stat(self, key: str) -> int | None:
        # From the stored size alone: no header read, no keyring call.
        key_ref = split_blob_key(key)
        stored = self.inner.stat(key)
        return plain_size(stored) if key_ref and stored is not None else stored

    def read(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        key_ref = split_blob_key(key)
        if not key_ref:
            return self.inner.read(key, offset, length, chunk_size)
        stored = self.inner.stat(key)
        if stored is None:
            raise BlobNotFound(key)
        size = plain_size(stored)
        offset = min(offset, size)
        end = size if length is None else min(size, offset + length)
        first = offset // SEGMENT_SIZE
        # A read to the end includes the final segment, so truncation cannot go unnoticed.
        last = size // SEGMENT_SIZE if end == size else (end - 1) // SEGMENT_SIZE
        if end <= offset < size:
            last = first - 1
        header, body = self._read_stored(key, first, last, size)
        cipher = self._cipher(key_ref, unpack_header(header, key_ref))
        plain = open_segments(cipher, body, first, last, size, key)
        return rechunk(plain, offset - first * SEGMENT_SIZE, end - offset, chunk_size)

    def _read_stored(self, key: str, first: int, last: int, size: int):
        """(header, stored bytes of segments first..last); a read from segment 0 is one inner
        read, so header and segments come from the same version of the object."""
        stop = min(stored_size(size), HEADER_SIZE + (last + 1) * SEALED_SIZE)
        if first == 0:
            return _take(self.inner.read(key, 0, stop, _INNER_CHUNK), HEADER_SIZE)
        header, _ = _take(self.inner.read(key, 0, HEADER_SIZE), HEADER_SIZE)
        start = HEADER_SIZE + first * SEALED_SIZE
        return header, self.inner.read(key, start, max(0, stop - start), _INNER_CHUNK)

    def put(self, key: str, data: bytes) -> None:
        key_ref = split_blob_key(key)
        if not key_ref:
            return self.inner.put(key, data)
        data_key, wrapped = self.keyring.new_data_key(key_ref)
        header = pack_header(key_ref, wrapped)
        sealed = seal_whole(SegmentCipher(data_key, header), data, key)
        self.inner.put(key, b"".join([header, *sealed]))

    def delete(self, key: str) -> None:
        split_blob_key(key)
        self.inner.delete(key)

    def delete_many(self, keys: list[str]) -> list[str]:
        for key in keys:
            split_blob_key(key)
        return self.inner.delete_many(keys)

    def walk(self, prefix: str = "") -> Iterator[StoredObject]:
        """The inner driver's blobs, under the same keys (encrypted or not). Sizes are the
        stored sizes: for an encrypted blob the sealed size (header and segment overhead
        included), not the plaintext size that stat() gives."""
        return self.inner.walk(prefix)

    def open_file(self, key: str) -> int | None:
        # The stored bytes of an encrypted blob are not its content.
        return None if split_blob_key(key) else self.inner.open_file(key)

    def redirect_url(self, key: str, expires_in: int) -> str | None:
        # A presigned URL would serve ciphertext: encrypted blobs are always proxied.
        if split_blob_key(key):
            return None
        return self.inner.redirect_url(key, expires_in)

    # -- uploads ---------------------------------------------------------------------------
    def upload_start(self, upload_id: str, key_ref: str = "") -> UploadState:
        if key_ref and not KEY_REF.match(key_ref):
            raise ValueError(f"invalid key ref {key_ref!r}")
        if not key_ref:
            return {"inner": self.inner.upload_start(upload_id, ""), "encryption": None}
        # The keyring first: a refused key starts nothing.
        data_key, wrapped = self.keyring.new_data_key(key_ref)
        empty_tail = SegmentCipher(data_key, pack_header(key_ref, wrapped)).seal_tail(b"", 0)
        inner = self.inner.upload_start(upload_id, key_ref)
        return _Upload(key_ref, wrapped, 0, empty_tail, inner).to_state()

    def upload_writer(self, upload_id: str, state: UploadState, offset: int) -> UploadWriter:
        upload = _Upload.from_state(state)
        if upload is None:
            return self.inner.upload_writer(upload_id, _inner_state(state), offset)
        if offset != upload.size:
            raise ValueError(f"offset {offset} is not the upload's acknowledged size")
        cipher = self._cipher(upload.key_ref, upload.wrapped)
        tail = cipher.open_tail(upload.sealed_tail, upload.size)
        inner = self.inner.upload_writer(
            upload_id, upload.inner, upload_stored_size(upload.full_segments))
        return _EncryptingWriter(inner, cipher, upload, tail)

    def upload_read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        upload = _Upload.from_state(state)
        if upload is None:
            return self.inner.upload_read(upload_id, _inner_state(state), size)
        if size > upload.size:
            raise ValueError(f"the upload holds {upload.size} bytes, not {size}")
        cipher = self._cipher(upload.key_ref, upload.wrapped)
        tail = cipher.open_tail(upload.sealed_tail, upload.size)
        full = upload.full_segments
        stored = self.inner.upload_read(upload_id, upload.inner, upload_stored_size(full))
        body = _skip(stored, HEADER_SIZE) if full else stored
        segments = open_segments(cipher, body, 0, full - 1, None, "")
        return rechunk(itertools.chain(segments, [tail]), 0, size, READ_CHUNK)

    def upload_commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        key_ref = split_blob_key(key)
        upload = _Upload.from_state(state)
        if key_ref != (upload.key_ref if upload else ""):
            raise ValueError(f"blob key {key!r} is not under the upload's key ref")
        if upload is None:
            return self.inner.upload_commit(upload_id, _inner_state(state), size, key)
        if size != upload.size:
            raise ValueError(f"commit of {size} bytes, but the upload holds {upload.size}")
        cipher = self._cipher(upload.key_ref, upload.wrapped)
        tail = cipher.open_tail(upload.sealed_tail, upload.size)
        full = upload.full_segments
        writer = self.inner.upload_writer(upload_id, upload.inner, upload_stored_size(full))
        try:
            final = cipher.seal(full, tail, key)
            writer.write([upload.header, *final] if full == 0 else final)
            stored, inner_state = writer.finish()
        except BaseException:
            writer.abort()
            raise
        self.inner.upload_commit(upload_id, inner_state, stored, key)

    def upload_abort(self, upload_id: str, state: UploadState) -> None:
        self.inner.upload_abort(upload_id, _inner_state(state))

    def upload_ids_older_than(self, timestamp: float) -> list[str]:
        return self.inner.upload_ids_older_than(timestamp)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()


class _EncryptingWriter(UploadWriter):
    """Seals full segments as bytes arrive and appends them to the inner upload in one
    write per batch; the partial last segment is held here, then sealed into the state."""

    def __init__(self, inner: UploadWriter, cipher: SegmentCipher, upload: _Upload,
                 tail: bytes):
        self._inner = inner
        self._cipher = cipher
        self._upload = upload
        self._index = upload.full_segments
        self._size = upload.size
        self._tail = bytearray(tail)

    def write(self, chunks: list[bytes]) -> None:
        sealed: list[bytes] = []
        for chunk in chunks:
            self._size += len(chunk)
            view = memoryview(chunk)
            if self._tail:
                need = SEGMENT_SIZE - len(self._tail)
                self._tail += view[:need]
                view = view[need:]
                if len(self._tail) < SEGMENT_SIZE:
                    continue
                sealed += self._seal(self._tail)
                self._tail = bytearray()
            full = len(view) - len(view) % SEGMENT_SIZE
            for pos in range(0, full, SEGMENT_SIZE):
                sealed += self._seal(view[pos:pos + SEGMENT_SIZE])
            self._tail += view[full:]
        if sealed:
            self._inner.write(sealed)

    def _seal(self, plaintext) -> list[bytes]:
        sealed = self._cipher.seal(self._index, plaintext)
        if self._index == 0:
            sealed.insert(0, self._upload.header)  # the header goes with the first segment
        self._index += 1
        return sealed

    def finish(self) -> tuple[int, UploadState]:
        stored, inner_state = self._inner.finish()
        if stored != upload_stored_size(self._index):
            raise RuntimeError(f"inner driver holds {stored} bytes of the upload, expected "
                               f"{upload_stored_size(self._index)}")
        upload = self._upload
        sealed_tail = self._cipher.seal_tail(bytes(self._tail), self._size)
        return self._size, _Upload(upload.key_ref, upload.wrapped, self._size, sealed_tail,
                                   inner_state).to_state()

    def abort(self) -> None:
        self._tail = bytearray()
        self._inner.abort()


def _take(chunks: Iterator[bytes], n: int) -> tuple[bytes, Iterator[bytes]]:
    """The first n bytes of a chunk stream (read now: a refused key fails the call, not
    the response half-way), and the stream of the rest."""
    head = bytearray()
    for chunk in chunks:
        need = n - len(head)
        head += chunk[:need]
        if len(head) == n:
            rest = memoryview(chunk)[need:]
            return bytes(head), itertools.chain([rest] if rest else [], chunks)
    return bytes(head), iter(())


def _skip(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield memoryview(chunk)[n:]
        n = 0
