from __future__ import annotations

from functools import cache
from typing import Any, Iterable

from sqlalchemy import Connection, and_, bindparam, delete, select, update

from .database import Database
from .dialect import insert
from .schema import manifest_references, manifests, repositories, tags

_HEAD_COLUMNS = (manifests.c.digest, manifests.c.media_type, manifests.c.size)


def get(conn: Connection, repo_id: int, digest: str, with_content: bool = True):
    columns = _HEAD_COLUMNS + ((manifests.c.content,) if with_content else ())
    return conn.execute(select(*columns).where(
        manifests.c.repository_id == repo_id, manifests.c.digest == digest)).first()


@cache
def _lookup_statement(by_tag: bool, with_content: bool):
    # Built once: the pull path is hot, and statement construction dominates a cached query.
    columns = [repositories.c.id.label("repository_id"), *_HEAD_COLUMNS,
               manifests.c.last_pulled_at]
    if with_content:
        columns.append(manifests.c.content)
    query = select(*columns).select_from(repositories)
    if by_tag:
        query = query.outerjoin(tags, and_(tags.c.repository_id == repositories.c.id,
                                           tags.c.name == bindparam("reference")))
        wanted = tags.c.digest
    else:
        wanted = bindparam("reference")
    query = query.outerjoin(manifests, and_(manifests.c.repository_id == repositories.c.id,
                                            manifests.c.digest == wanted))
    return query.where(repositories.c.name == bindparam("name"))


def lookup(db: Database, repository: str, reference: str, by_tag: bool, with_content: bool):
    """One round trip for a pull: the repository id (None if unknown) and the manifest row
    (digest None if the reference is unknown)."""
    return db.fetch_one(_lookup_statement(by_tag, with_content),
                        {"name": repository, "reference": reference})


def existing(conn: Connection, repo_id: int, digests: list[str]) -> set[str]:
    return set(conn.execute(select(manifests.c.digest).where(
        manifests.c.repository_id == repo_id, manifests.c.digest.in_(digests))).scalars())


def sizes(conn: Connection, repo_id: int, digests: list[str]) -> dict[str, int]:
    rows = conn.execute(select(manifests.c.digest, manifests.c.total_size).where(
        manifests.c.repository_id == repo_id, manifests.c.digest.in_(digests)))
    return {digest: size for digest, size in rows}


def insert_new(conn: Connection, row: dict[str, Any],
               references: Iterable[tuple[str, str]]) -> bool:
    """Insert a manifest and its references; False if it was already there."""
    result = conn.execute(insert(conn, manifests).values(**row).on_conflict_do_nothing(
        index_elements=["repository_id", "digest"]))
    if result.rowcount == 0:
        return False
    refs = [{"repository_id": row["repository_id"], "parent_digest": row["digest"],
             "child_digest": child, "kind": kind} for child, kind in dict(references).items()]
    if refs:
        conn.execute(insert(conn, manifest_references).on_conflict_do_nothing(), refs)
    return True


def parent_of(conn: Connection, repo_id: int, digest: str) -> str | None:
    return conn.execute(select(manifest_references.c.parent_digest).where(
        manifest_references.c.repository_id == repo_id,
        manifest_references.c.child_digest == digest,
        manifest_references.c.kind == "manifest").limit(1)).scalar()


def remove(conn: Connection, repo_id: int, digest: str) -> None:
    conn.execute(delete(manifest_references).where(
        manifest_references.c.repository_id == repo_id,
        manifest_references.c.parent_digest == digest))
    conn.execute(delete(manifests).where(manifests.c.repository_id == repo_id,
                                         manifests.c.digest == digest))


def referrers(conn: Connection, repo_id: int, subject: str, artifact_type: str | None):
    query = select(manifests.c.digest, manifests.c.media_type, manifests.c.size,
                   manifests.c.artifact_type, manifests.c.config_media_type,
                   manifests.c.annotations).where(
        manifests.c.repository_id == repo_id, manifests.c.subject_digest == subject)
    if artifact_type is not None:
        query = query.where(manifests.c.artifact_type == artifact_type)
    return conn.execute(query.order_by(manifests.c.digest)).all()


def record_pull(conn: Connection, repo_id: int, digest: str, now: float,
                older_than: float) -> None:
    conn.execute(update(manifests).where(
        manifests.c.repository_id == repo_id, manifests.c.digest == digest,
        (manifests.c.last_pulled_at.is_(None)) | (manifests.c.last_pulled_at < older_than),
    ).values(last_pulled_at=now))
