"""Repositories for tests that drive the registry's services directly: made with the
defaults (as CreateRepository without settings makes them), or made by pushes (a ROOT
CREATE_ON_PUSH template, as a first start writes in the administrator's registry)."""
from __future__ import annotations

from berth.registry.repositories import create_from
from berth.registry.repositories.encryption import Encryption
from berth.registry.repositories.templates import CREATE_ON_PUSH, write_root
from berth.storage.metadata.database import Database, Tx


def make_repository(tx: Tx, registry_id: int, name: str,
                    encryption: Encryption = Encryption()) -> int:
    """The repository's id, made with the defaults if it is missing."""
    return create_from(tx, registry_id, name, None, encryption)[0]


def pushes_create(db: Database, registry_id: int) -> None:
    """Let pushes into the registry make their repositories."""
    with db.write() as tx:
        write_root(tx, registry_id, (CREATE_ON_PUSH,), "tests: pushes make repositories")
