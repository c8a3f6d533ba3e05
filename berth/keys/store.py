"""The key store as blob encryption uses it (berth.storage.blobs.keyring.Keyring): fresh data
keys wrapped under a key's current version, and wrapped ones opened again.

Every use reads the "keys" generation (one indexed row) and honours the key's state as of
that generation: a key disabled through any node is refused by every node from its next use
on. Key states are cached per generation; opened data keys in a bounded LRU, which never
skips the state check."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..storage.blobs.keyring import DEPLOYMENT_KEY, KEY_REF
from ..storage.metadata import keys as rows
from ..storage.metadata.database import Database, Tx
from ..storage.metadata.generation_cache import GenerationCache
from . import envelope
from .master import MasterKey
from .material import add_version, open_versions
from .models import KeyRefused, key_arn, key_id_of

DATA_KEY_CACHE = 4096


@dataclass(frozen=True)
class _KeyState:
    ref: str
    arn: str | None            # None for the deployment key
    enabled: bool
    version: int               # the current one
    keks: dict[int, AESGCM]    # every version, to unwrap data from before rotations

    @property
    def name(self) -> str:
        return f"the KMS key {self.arn}" if self.arn else "the deployment's encryption key"


class KeyStore:
    def __init__(self, db: Database, master: MasterKey, cache_size: int = DATA_KEY_CACHE):
        self.db = db
        self.master = master
        self._states = GenerationCache(rows.KEYS_GENERATION)
        self._lock = threading.Lock()  # the data-key LRU
        self._data_keys: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._cache_size = cache_size

    # -- Keyring ---------------------------------------------------------------------------
    def new_data_key(self, key_ref: str) -> tuple[bytes, bytes]:
        state = self._usable(key_ref)
        data_key = os.urandom(envelope.DATA_KEY_BYTES)
        return data_key, envelope.wrap(state.keks[state.version], key_ref, state.version,
                                       data_key)

    def unwrap(self, key_ref: str, wrapped: bytes) -> bytes:
        state = self._usable(key_ref)
        wrapped = bytes(wrapped)
        found = self._cached(key_ref, wrapped)
        if found is not None:
            return found
        try:
            kek = state.keks.get(envelope.version_of(wrapped))
            if kek is None:
                raise envelope.WrappedKeyInvalid("it names a version the key does not have")
            data_key = envelope.unwrap(kek, key_ref, wrapped)
        except envelope.WrappedKeyInvalid as exc:
            raise KeyRefused(f"A data key sealed with {state.name} does not open: {exc}",
                             key_ref, state.arn, "InvalidCiphertextException") from None
        self._remember(key_ref, wrapped, data_key)
        return data_key

    def require_usable(self, key_ref: str) -> None:
        """Raise KeyRefused (a KeyUnavailable) unless the key exists and is enabled ("" is
        always fine)."""
        if key_ref:
            self._usable(key_ref)

    # -- states, per generation ------------------------------------------------------------
    def _usable(self, key_ref: str) -> _KeyState:
        state = self._state(key_ref)
        if not state.enabled:
            raise KeyRefused(
                f"{state.name[0].upper()}{state.name[1:]} is disabled: the repository's "
                "blobs cannot be read or written until it is enabled again", key_ref,
                state.arn, "DisabledException")
        return state

    def _state(self, key_ref: str) -> _KeyState:
        if not KEY_REF.match(key_ref):
            raise KeyRefused(f"{key_ref!r} does not name an encryption key", key_ref, None,
                             "NotFoundException")
        with self.db.read() as tx:
            states = self._states.entries(tx)
            state = states.get(key_ref)
            if state is None:
                state = self._load(tx, key_ref)
                if state is not None:
                    states[key_ref] = state
        if state is None and key_ref == DEPLOYMENT_KEY:
            self.ensure_deployment_key()
            return self._state(key_ref)
        if state is None:
            raise KeyRefused(f"The KMS key with id {key_id_of(key_ref)} does not exist",
                             key_ref, None, "NotFoundException")
        return state

    def _load(self, tx: Tx, key_ref: str) -> _KeyState | None:
        row = rows.key(tx, key_id_of(key_ref))
        if row is None:
            return None
        arn = None if row.account_id is None else key_arn(row.region, row.account_id, row.id)
        return _KeyState(key_ref, arn, bool(row.enabled), row.version,
                         open_versions(tx, self.master, row.id))

    def ensure_deployment_key(self) -> None:
        """The deployment key, made once for the deployment (nodes racing on one empty
        database make one: the insert of either loses to the other's)."""
        with self.db.write() as tx:
            rows.insert_key(tx, DEPLOYMENT_KEY, None, None, None,
                            "Berth's deployment key (AES256 repositories)")
            if rows.key(tx, DEPLOYMENT_KEY) is None:  # no version yet: ours is the first
                add_version(tx, self.master, DEPLOYMENT_KEY, 1)

    # -- opened data keys ------------------------------------------------------------------
    def _cached(self, key_ref: str, wrapped: bytes) -> bytes | None:
        with self._lock:
            found = self._data_keys.get((key_ref, wrapped))
            if found is not None:
                self._data_keys.move_to_end((key_ref, wrapped))
            return found

    def _remember(self, key_ref: str, wrapped: bytes, data_key: bytes) -> None:
        with self._lock:
            self._data_keys[(key_ref, wrapped)] = data_key
            while len(self._data_keys) > self._cache_size:
                self._data_keys.popitem(last=False)
