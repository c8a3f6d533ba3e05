from __future__ import annotations

import time
from functools import cache, lru_cache

from sqlalchemy import and_, bindparam, delete, select

from .database import Database, Tx
from .schema import blobs, manifest_references, repositories, repository_blobs
from .statements import in_list, insert, list_params


@cache
def _stat():
    return (select(repositories.c.id.label("repository_id"), blobs.c.size,
                   repositories.c.key_ref)
            .select_from(repositories)
            .outerjoin(repository_blobs, and_(
                repository_blobs.c.repository_id == repositories.c.id,
                repository_blobs.c.digest == bindparam("digest")))
            .outerjoin(blobs, blobs.c.digest == repository_blobs.c.digest)
            .where(repositories.c.registry_id == bindparam("registry"),
                   repositories.c.name == bindparam("name")))


def _linked():
    return (select(blobs.c.digest, blobs.c.size)
            .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
            .where(repository_blobs.c.repository_id == bindparam("repo")))


@cache
def _size_in_repository():
    return _linked().where(blobs.c.digest == bindparam("digest"))


@lru_cache(maxsize=64)
def _sizes_in_repository(count: int):
    return _linked().where(in_list(blobs.c.digest, "d", count))


@cache
def _record(dialect: str):
    return insert(dialect, blobs, "digest", "size", "created_at").on_conflict_do_nothing(
        index_elements=["digest"])


@cache
def _link(dialect: str):
    return insert(dialect, repository_blobs, "repository_id", "digest",
                  "created_at").on_conflict_do_nothing(index_elements=["repository_id", "digest"])


@cache
def _unlink():
    return delete(repository_blobs).where(
        repository_blobs.c.repository_id == bindparam("repo"),
        repository_blobs.c.digest == bindparam("digest"))


@cache
def _referencing_manifest():
    return select(manifest_references.c.parent_digest).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.child_digest == bindparam("digest")).limit(1)


def stat(db: Database, registry_id: int, repository: str, digest: str):
    """(repository_id or None if the repository is unknown, size or None if not linked, the
    repository's key ref)."""
    row = db.fetch_one(_stat(), {"registry": registry_id, "name": repository, "digest": digest})
    return (None, None, "") if row is None else row


def size_in_repository(tx: Tx, repo_id: int, digest: str) -> int | None:
    row = tx.first(_size_in_repository(), {"repo": repo_id, "digest": digest})
    return None if row is None else row.size


def sizes_in_repository(tx: Tx, repo_id: int, digests: list[str]) -> dict[str, int]:
    rows = tx.all(_sizes_in_repository(len(digests)),
                  {"repo": repo_id, **list_params("d", digests)})
    return {row.digest: row.size for row in rows}


def record(tx: Tx, digest: str, size: int) -> None:
    tx.execute(_record(tx.dialect_name),
               {"digest": digest, "size": size, "created_at": time.time()})


def link(tx: Tx, repo_id: int, digest: str) -> None:
    tx.execute(_link(tx.dialect_name),
               {"repository_id": repo_id, "digest": digest, "created_at": time.time()})


def unlink(tx: Tx, repo_id: int, digest: str) -> bool:
    return tx.execute(_unlink(), {"repo": repo_id, "digest": digest}) > 0


def referencing_manifest(tx: Tx, repo_id: int, digest: str) -> str | None:
    return tx.scalar(_referencing_manifest(), {"repo": repo_id, "digest": digest})
