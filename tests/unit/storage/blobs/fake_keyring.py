"""A keyring for tests: key-encryption keys by key ref, with versions (rotation) and an
enabled flag, wrapping data keys with AES-GCM as a real key store would."""
from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from berth.storage.blobs.keyring import KeyUnavailable


class FakeKeyring:
    def __init__(self, *key_refs: str):
        self._versions: dict[str, list[bytes]] = {}
        self._disabled: set[str] = set()
        for key_ref in key_refs:
            self.create(key_ref)

    def create(self, key_ref: str) -> None:
        self._versions[key_ref] = [AESGCM.generate_key(256)]

    def rotate(self, key_ref: str) -> None:
        self._versions[key_ref].append(AESGCM.generate_key(256))

    def disable(self, key_ref: str) -> None:
        self._disabled.add(key_ref)

    def enable(self, key_ref: str) -> None:
        self._disabled.discard(key_ref)

    def _versions_of(self, key_ref: str) -> list[bytes]:
        if key_ref not in self._versions:
            raise KeyUnavailable(f"key {key_ref} does not exist", key_ref)
        if key_ref in self._disabled:
            raise KeyUnavailable(f"key {key_ref} is disabled", key_ref)
        return self._versions[key_ref]

    def new_data_key(self, key_ref: str) -> tuple[bytes, bytes]:
        versions = self._versions_of(key_ref)
        data_key, nonce = os.urandom(32), os.urandom(12)
        sealed = AESGCM(versions[-1]).encrypt(nonce, data_key, key_ref.encode())
        return data_key, bytes([len(versions) - 1]) + nonce + sealed

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes:
        kek = self._versions_of(key_ref)[wrapped[0]]
        return AESGCM(kek).decrypt(wrapped[1:13], wrapped[13:], key_ref.encode())
