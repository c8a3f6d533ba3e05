"""Envelope encryption of data keys: a data key is wrapped with AES-256-GCM under one version
of a key-encryption key. The wrapped form names that version (so rotation keeps old data
readable) and is bound to the key ref, so it does not open under any other key."""
from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format, key version
_NONCE = 12
DATA_KEY_BYTES = 32


class WrappedKeyInvalid(Exception):
    """Not a wrapped data key of this key (truncated, altered, or another key's)."""


def _aad(key_ref: str, version: int) -> bytes:
    return f"berth-data-key:{key_ref}:{version}".encode()


def wrap(kek: AESGCM, key_ref: str, version: int, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return (_HEADER.pack(_FORMAT, version) + nonce
            + kek.encrypt(nonce, data_key, _aad(key_ref, version)))


def version_of(wrapped: bytes) -> int:
    if len(wrapped) != _HEADER.size + _NONCE + DATA_KEY_BYTES + 16:
        raise WrappedKeyInvalid("a wrapped data key has the wrong length")
    form, version = _HEADER.unpack_from(wrapped)
    if form != _FORMAT:
        raise WrappedKeyInvalid(f"unknown wrapped data key format {form}")
    return version


def unwrap(kek: AESGCM, key_ref: str, wrapped: bytes) -> bytes:
    version = version_of(wrapped)
    start = _HEADER.size
    try:
        return kek.decrypt(wrapped[start:start + _NONCE], wrapped[start + _NONCE:],
                           _aad(key_ref, version))
    except InvalidTag:
        raise WrappedKeyInvalid("the wrapped data key does not open with its key") from None
