"""The deployment's master key: it encrypts the secrets Berth keeps (access key secrets, token
signing keys) with AES-256-GCM. SigV4 needs each secret itself, so secrets are encrypted, not
hashed. Every node of a deployment must hold the same master key."""
from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("berth.keys")

_NONCE = 12
_VERSION = b"\x01"


class MasterKeyError(Exception):
    """The master key is missing, malformed, or not the one the data was sealed with."""


class MasterKey:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise MasterKeyError("the master key must be 32 bytes (base64 in its file)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt, binding the ciphertext to ``context`` (what it is the secret of), so a
        sealed value copied onto another row does not open."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE + 16:
            raise MasterKeyError("sealed secret of unknown format")
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE], bytes(sealed[1 + _NONCE:]),
                                      context.encode())
        except InvalidTag:
            raise MasterKeyError("a stored secret does not open with this master key: is it "
                                 "the deployment's key?") from None

    @classmethod
    def from_base64(cls, text: str) -> "MasterKey":
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError):
            raise MasterKeyError("the master key is not valid base64") from None

    @classmethod
    def load(cls, value: str, path: Path, create: bool) -> "MasterKey":
        """From ``value`` (base64) if given, else from the file at ``path``, created with a
        fresh random key (readable by the owner only) when ``create`` and it is absent."""
        if value:
            return cls.from_base64(value)
        try:
            return cls.from_base64(path.read_text())
        except FileNotFoundError:
            if not create:
                raise MasterKeyError(
                    f"no master key at {path}, and this database holds secrets sealed by one: "
                    "give every node the deployment's key (BERTH_MASTER_KEY or "
                    "master_key_file)") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a concurrent starter
        # sees either no file or a complete one.
        temp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)
            log.info("created the master key at %s; every node of this deployment needs it",
                     path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
        return cls.from_base64(path.read_text())
