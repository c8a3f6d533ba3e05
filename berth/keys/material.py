"""Key material: 32 random bytes per key version, stored sealed with the deployment's master
key and bound to the key and version it belongs to."""
from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..storage.metadata import keys as rows
from ..storage.metadata.database import Tx
from .master import MasterKey


def _context(key_id: str, version: int) -> str:
    return f"encryption-key:{key_id}:{version}"


def add_version(tx: Tx, master: MasterKey, key_id: str, version: int) -> bool:
    """Store fresh material as ``version``; False if that version exists already."""
    sealed = master.seal(os.urandom(32), _context(key_id, version))
    return rows.insert_version(tx, key_id, version, sealed)


def open_versions(tx: Tx, master: MasterKey, key_id: str) -> dict[int, AESGCM]:
    return {row.version: AESGCM(master.open(row.material, _context(key_id, row.version)))
            for row in rows.key_versions(tx, key_id)}
