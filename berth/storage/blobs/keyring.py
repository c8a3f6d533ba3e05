"""What blob encryption needs from a key store: data keys wrapped by a key-encryption key.

Keys are named by a *key ref* that also prefixes the blob keys it protects, so that one
digest stored under two keys is two objects and deduplication holds within one key:
``aes256`` (the deployment key Berth manages) or ``kms-<uuid>`` (a customer key). Blob keys
without such a prefix are stored as they are (legacy data, or storage that encrypts itself).
"""
from __future__ import annotations

import re
from typing import Protocol

KEY_REF = re.compile(r"^(aes256|kms-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
DEPLOYMENT_KEY = "aes256"


class KeyUnavailable(Exception):
    """The key-encryption key cannot be used (disabled, deleted, unknown); says why."""

    def __init__(self, message: str, key_ref: str, arn: str | None = None):
        super().__init__(message)
        self.key_ref = key_ref
        self.arn = arn


class Keyring(Protocol):
    def new_data_key(self, key_ref: str) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key and its wrapped form (opaque, stored with the data),
        under the current version of ``key_ref``. Raises KeyUnavailable."""

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes:
        """The data key inside ``wrapped``. Raises KeyUnavailable (also when the key is
        disabled: its data must be unreadable until it is enabled again)."""


def split_key(key: str) -> tuple[str, str]:
    """(key ref, rest) of a blob key; key ref "" when the blob is stored as it is."""
    head, _, rest = key.partition("/")
    if rest and KEY_REF.match(head):
        return head, rest
    return "", key


def join_key(key_ref: str, key: str) -> str:
    return f"{key_ref}/{key}" if key_ref else key
