"""The key store and its management over one database and master key (app factory, CLI)."""
from __future__ import annotations

from dataclasses import dataclass

from ..storage.metadata.database import Database
from .master import MasterKey
from .service import KeyService
from .store import KeyStore


@dataclass(frozen=True)
class Keys:
    store: KeyStore      # the Keyring blob encryption uses
    service: KeyService  # management, and finding the key a repository names


def open_keys(db: Database, master: MasterKey) -> Keys:
    """Over a migrated database; makes the deployment key at the deployment's first start."""
    keys = Keys(KeyStore(db, master), KeyService(db, master))
    keys.store.ensure_deployment_key()
    return keys
