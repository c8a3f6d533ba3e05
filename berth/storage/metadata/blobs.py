from __future__ import annotations

import time

from functools import cache

from sqlalchemy import Connection, and_, bindparam, delete, select

from .database import Database
from .dialect import insert
from .schema import blobs, manifest_references, repositories, repository_blobs


@cache
def _stat_statement():
    return (select(repositories.c.id.label("repository_id"), blobs.c.size)
            .select_from(repositories)
            .outerjoin(repository_blobs, and_(
                repository_blobs.c.repository_id == repositories.c.id,
                repository_blobs.c.digest == bindparam("digest")))
            .outerjoin(blobs, blobs.c.digest == repository_blobs.c.digest)
            .where(repositories.c.name == bindparam("name")))


def stat(db: Database, repository: str, digest: str):
    """(repository_id or None if the repository is unknown, size or None if not linked)."""
    row = db.fetch_one(_stat_statement(), {"name": repository, "digest": digest})
    return (None, None) if row is None else (row.repository_id, row.size)


def size_in_repository(conn: Connection, repo_id: int, digest: str) -> int | None:
    return conn.execute(
        select(blobs.c.size).join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
        .where(repository_blobs.c.repository_id == repo_id, blobs.c.digest == digest)
    ).scalar()


def sizes_in_repository(conn: Connection, repo_id: int, digests: list[str]) -> dict[str, int]:
    rows = conn.execute(
        select(blobs.c.digest, blobs.c.size)
        .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
        .where(repository_blobs.c.repository_id == repo_id, blobs.c.digest.in_(digests)))
    return {digest: size for digest, size in rows}


def record(conn: Connection, digest: str, size: int) -> None:
    conn.execute(insert(conn, blobs).values(digest=digest, size=size, created_at=time.time())
                 .on_conflict_do_nothing(index_elements=["digest"]))


def link(conn: Connection, repo_id: int, digest: str) -> None:
    conn.execute(insert(conn, repository_blobs)
                 .values(repository_id=repo_id, digest=digest, created_at=time.time())
                 .on_conflict_do_nothing(index_elements=["repository_id", "digest"]))


def unlink(conn: Connection, repo_id: int, digest: str) -> bool:
    result = conn.execute(delete(repository_blobs).where(
        repository_blobs.c.repository_id == repo_id, repository_blobs.c.digest == digest))
    return result.rowcount > 0


def referencing_manifest(conn: Connection, repo_id: int, digest: str) -> str | None:
    return conn.execute(
        select(manifest_references.c.parent_digest)
        .where(manifest_references.c.repository_id == repo_id,
               manifest_references.c.child_digest == digest).limit(1)).scalar()
