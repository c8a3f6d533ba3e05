"""The at-rest format of an encrypted blob (written and read by ``encrypted.py``).

    object  = header (HEADER_SIZE bytes) + segment 0 + ... + segment n
    segment = random nonce (12) + AES-256-GCM ciphertext + tag (16)

Every object has its own data key, wrapped by the keyring and kept in the header. Segments
0..n-1 hold SEGMENT_SIZE plaintext bytes each; the final segment n holds the rest, 0 to
SEGMENT_SIZE-1 bytes. Header and segment sizes are fixed, so the plaintext size follows from
the stored size alone. A segment's associated data binds the header, its index and whether it
is final (the final one also binds the blob key), so a tampered, reordered, truncated or
swapped object fails to decrypt. Nonces are random, not counters: a segment past an upload's
acknowledged offset may be written again with other bytes under the same data key.
"""
from __future__ import annotations

import hashlib
import os
import struct
from typing import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT_SIZE = 64 * 1024
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
SEALED_SIZE = SEGMENT_SIZE + OVERHEAD
HEADER_SIZE = 1024

_MAGIC = b"BERTHENC"
_VERSION = 1
# magic, version, key ref length, key ref, segment size, wrapped data key length
_FIXED = struct.Struct(">8sBB64sIH")
MAX_WRAPPED = HEADER_SIZE - _FIXED.size
_INDEX = struct.Struct(">QB")


class BlobCorrupted(Exception):
    """Stored bytes that do not decrypt: altered, truncated, or not in this format."""


def pack_header(key_ref: str, wrapped: bytes) -> bytes:
    ref = key_ref.encode()
    if len(wrapped) > MAX_WRAPPED:
        raise ValueError(f"a wrapped data key of {len(wrapped)} bytes exceeds {MAX_WRAPPED}")
    fixed = _FIXED.pack(_MAGIC, _VERSION, len(ref), ref, SEGMENT_SIZE, len(wrapped))
    return (fixed + wrapped).ljust(HEADER_SIZE, b"\0")


def unpack_header(header: bytes, key_ref: str) -> bytes:
    """The wrapped data key of an object stored under ``key_ref``."""
    if len(header) != HEADER_SIZE:
        raise BlobCorrupted("stored blob is shorter than its header")
    magic, version, ref_len, ref, segment, wrapped_len = _FIXED.unpack_from(header)
    if magic != _MAGIC or version != _VERSION or segment != SEGMENT_SIZE:
        raise BlobCorrupted("stored blob is not in Berth's encrypted format (version 1)")
    wrapped = header[_FIXED.size:_FIXED.size + wrapped_len]
    # Canonical only: the segments are bound to the header as packed from its fields.
    if ref[:ref_len] != key_ref.encode() or header != pack_header(key_ref, wrapped):
        raise BlobCorrupted(f"stored blob's header does not belong to key {key_ref}")
    return wrapped


def stored_size(plain: int) -> int:
    full, rest = divmod(plain, SEGMENT_SIZE)
    return HEADER_SIZE + full * SEALED_SIZE + rest + OVERHEAD


def plain_size(stored: int) -> int:
    full, rest = divmod(stored - HEADER_SIZE, SEALED_SIZE)
    if full < 0 or rest < OVERHEAD:
        raise BlobCorrupted(f"{stored} bytes is no encrypted blob's size: truncated?")
    return full * SEGMENT_SIZE + rest - OVERHEAD


def upload_stored_size(full_segments: int) -> int:
    """Stored size of an upload holding this many full segments; the header is written
    with the first segment, so an upload without one stores nothing yet."""
    return HEADER_SIZE + full_segments * SEALED_SIZE if full_segments else 0


def _corrupted(index: int) -> "BlobCorrupted":
    return BlobCorrupted(f"segment {index} does not decrypt: the stored blob was altered, "
                         "truncated or moved")


class SegmentCipher:
    """Seals and opens the segments of one object under its data key."""

    def __init__(self, data_key: bytes, header: bytes):
        self._aead = AESGCM(data_key)
        self._binding = hashlib.sha256(header).digest()

    def _aad(self, index: int, final_key: str | None) -> bytes:
        if final_key is None:
            return self._binding + _INDEX.pack(index, 0)
        return self._binding + _INDEX.pack(index, 1) + final_key.encode()

    def seal(self, index: int, plaintext, final_key: str | None = None) -> list[bytes]:
        """[nonce, ciphertext+tag]: two buffers, so writing them copies nothing."""
        nonce = os.urandom(NONCE_SIZE)
        return [nonce, self._aead.encrypt(nonce, plaintext, self._aad(index, final_key))]

    def open(self, index: int, sealed, final_key: str | None = None) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:],
                                      self._aad(index, final_key))
        except InvalidTag:
            raise _corrupted(index) from None

    def open_full(self, first: int, sealed: memoryview, count: int) -> memoryview:
        """Plaintext of up to ``count`` consecutive non-final segments, decrypted straight into
        one buffer (no bytes object per segment, no join afterwards). Stops short before a
        segment that does not open, so the caller yields what did and then meets the error."""
        out = memoryview(bytearray(count * SEGMENT_SIZE))
        for k in range(count):
            segment = sealed[k * SEALED_SIZE:(k + 1) * SEALED_SIZE]
            try:
                self._aead.decrypt_into(segment[:NONCE_SIZE], segment[NONCE_SIZE:],
                                        self._aad(first + k, None),
                                        out[k * SEGMENT_SIZE:(k + 1) * SEGMENT_SIZE])
            except InvalidTag:
                if k == 0:
                    raise _corrupted(first) from None
                return out[:k * SEGMENT_SIZE]
        return out

    def seal_tail(self, tail: bytes, size: int) -> bytes:
        """An upload's partial last segment, to keep in its state; bound to the upload's
        size so a stale tail does not open at another size."""
        return b"".join(self.seal(size, tail, f"tail:{size}"))

    def open_tail(self, sealed: bytes, size: int) -> bytes:
        tail = self.open(size, memoryview(sealed), f"tail:{size}")
        if len(tail) != size % SEGMENT_SIZE:
            raise BlobCorrupted("upload state does not match its size")
        return tail


def seal_whole(cipher: SegmentCipher, data: bytes, key: str) -> list[bytes]:
    """All segments of ``data`` as stored under ``key``."""
    view = memoryview(data)
    full = len(view) // SEGMENT_SIZE
    sealed = []
    for index in range(full):
        sealed += cipher.seal(index, view[index * SEGMENT_SIZE:(index + 1) * SEGMENT_SIZE])
    sealed += cipher.seal(full, view[full * SEGMENT_SIZE:], key)
    return sealed


def open_segments(cipher: SegmentCipher, stored: Iterable[bytes], first: int, last: int,
                  size: int | None, key: str) -> Iterator[bytes]:
    """Plaintext of segments first..last of a blob of ``size`` bytes under ``key`` (size
    None: an upload's, all full, none final yet), from their stored bytes in any chunking
    (only a segment straddling two chunks is copied)."""
    final, rest = divmod(size, SEGMENT_SIZE) if size is not None else (last + 1, 0)
    index, pending = first, bytearray()
    for chunk in stored:
        view = memoryview(chunk)
        while view and index <= last:
            length = SEALED_SIZE if index < final else rest + OVERHEAD
            final_key = key if index == final else None
            if pending or len(view) < length:
                take = length - len(pending)
                pending += view[:take]
                view = view[take:]
                if len(pending) < length:
                    break
                yield cipher.open(index, pending, final_key)
                pending = bytearray()
            elif index < final and index < last and len(view) >= 2 * SEALED_SIZE:
                # Several whole non-final segments in this chunk: one buffer for all.
                count = min(len(view) // SEALED_SIZE, final - index, last - index + 1)
                plain = cipher.open_full(index, view, count)
                opened = len(plain) // SEGMENT_SIZE
                yield plain
                view = view[opened * SEALED_SIZE:]
                index += opened
                continue
            else:
                yield cipher.open(index, view[:length], final_key)
                view = view[length:]
            index += 1
    if index <= last:
        raise BlobCorrupted(f"stored blob ends inside segment {index}: truncated")


def rechunk(pieces: Iterable[bytes], skip: int, length: int, chunk_size: int) -> Iterator[bytes]:
    """Bytes [skip, skip+length) of the pieces in chunks of at most chunk_size: a piece that
    fits is passed on as it is, smaller leftovers are joined (few large chunks keep per-chunk
    overhead low). Consumes every piece, so that the
    final segment of a read to the end is authenticated even when it adds no bytes."""
    out: list = []
    room = chunk_size
    for piece in pieces:
        view = memoryview(piece)[skip:skip + length]
        skip = max(0, skip - len(piece))
        length -= len(view)
        if not out and 0 < len(view) <= chunk_size:  # fits a chunk as it is: no copy
            yield view
            continue
        while view:
            out.append(view[:room])
            room -= len(out[-1])
            view = view[len(out[-1]):]
            if not room:
                yield b"".join(out)
                out, room = [], chunk_size
    if out:
        yield b"".join(out)
