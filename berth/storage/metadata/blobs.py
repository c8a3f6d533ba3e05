"""Blob links (a blob as a repository has it: ``repository_blobs``) and stored objects (the
bytes of one digest under one key ref: ``blobs``).

The statements that make a link take the rows they rely on first, so that on PostgreSQL a
garbage collector deleting the same rows either goes first (the link sees them gone) or
waits and finds them held (berth.gc explains the protocol)."""
from __future__ import annotations

import time
from functools import cache

from sqlalchemy import and_, bindparam, case, delete, exists, or_, select, update

from .database import Database, Tx
from .schema import blobs, manifest_references, repositories, repository_blobs
from .statements import in_list, insert, list_param

# One link (repository, digest) and one object (key ref, digest), by parameters.
LINK = and_(repository_blobs.c.repository_id == bindparam("repo"),
            repository_blobs.c.digest == bindparam("digest"))
OBJECT = and_(blobs.c.key_ref == bindparam("key_ref"), blobs.c.digest == bindparam("digest"))
# A manifest of the link's repository lists the link's blob.
LISTED = exists().where(manifest_references.c.repository_id == repository_blobs.c.repository_id,
                        manifest_references.c.child_digest == repository_blobs.c.digest)


@cache
def _stat():
    return (select(repositories.c.id.label("repository_id"), repository_blobs.c.size,
                   repositories.c.key_ref, repository_blobs.c.unreferenced_since)
            .select_from(repositories)
            .outerjoin(repository_blobs, and_(
                repository_blobs.c.repository_id == repositories.c.id,
                repository_blobs.c.digest == bindparam("digest")))
            .where(repositories.c.registry_id == bindparam("registry"),
                   repositories.c.name == bindparam("name")))


def _linked():
    return select(repository_blobs.c.digest, repository_blobs.c.size).where(
        repository_blobs.c.repository_id == bindparam("repo"))


@cache
def _size_in_repository():
    return _linked().where(repository_blobs.c.digest == bindparam("digest"))


@cache
def _sizes_in_repository():
    return _linked().where(in_list(repository_blobs.c.digest, "digests"))


@cache
def _hold_links():
    # Shared locks, taken in digest order: pushes listing the same layers do not wait for
    # each other; a collector's lock (FOR UPDATE) waits for them, or they for it.
    return (_linked().where(in_list(repository_blobs.c.digest, "digests"))
            .order_by(repository_blobs.c.digest).with_for_update(read=True))


@cache
def _link(dialect: str):
    # A new link waits for a manifest to list it; linking again restarts a pending wait.
    stmt = insert(dialect, repository_blobs, "repository_id", "digest", "size", "created_at",
                  "unreferenced_since")
    since = stmt.excluded.unreferenced_since
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "digest"],
        set_={"unreferenced_since": case(
            (repository_blobs.c.unreferenced_since.is_(None), None), else_=since)})


@cache
def _mark_unlisted():
    return update(repository_blobs).where(
        repository_blobs.c.repository_id == bindparam("repo"),
        in_list(repository_blobs.c.digest, "digests"), ~LISTED).values(
        unreferenced_since=bindparam("now"))


@cache
def _touch_link():
    return update(repository_blobs).where(
        LINK, repository_blobs.c.unreferenced_since.is_not(None)).values(
        unreferenced_since=bindparam("now"))


@cache
def _unlink():
    return delete(repository_blobs).where(LINK)


@cache
def _referencing_manifest():
    return select(manifest_references.c.parent_digest).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.child_digest == bindparam("digest")).limit(1)


@cache
def _pin(dialect: str):
    stmt = insert(dialect, blobs, "key_ref", "digest", "size", "created_at",
                  "unreferenced_since")
    return stmt.on_conflict_do_update(
        index_elements=["key_ref", "digest"],
        set_={"unreferenced_since": stmt.excluded.unreferenced_since,
              "size": stmt.excluded.size})


@cache
def _hold_object():
    since = blobs.c.unreferenced_since
    return update(blobs).where(OBJECT, or_(since.is_(None), since >= bindparam("safe"))
                               ).values(unreferenced_since=None)


def stat(db: Database, registry_id: int, repository: str, digest: str):
    """(repository id or None if the repository is unknown, size or None if not linked, the
    repository's key ref, when the link stopped being listed by a manifest or None)."""
    row = db.fetch_one(_stat(), {"registry": registry_id, "name": repository, "digest": digest})
    return (None, None, "", None) if row is None else row


def size_in_repository(tx: Tx, repo_id: int, digest: str) -> int | None:
    row = tx.first(_size_in_repository(), {"repo": repo_id, "digest": digest})
    return None if row is None else row.size


def sizes_in_repository(tx: Tx, repo_id: int, digests: list[str]) -> dict[str, int]:
    rows = tx.all(_sizes_in_repository(), {"repo": repo_id, "digests": list_param(digests)})
    return {row.digest: row.size for row in rows}


def hold_links(tx: Tx, repo_id: int, digests: list[str]) -> dict[str, int]:
    """sizes_in_repository, holding the rows until the transaction ends (for a manifest
    that will list them: a collector cannot take them meanwhile)."""
    rows = tx.all(_hold_links(), {"repo": repo_id, "digests": list_param(digests)})
    return {row.digest: row.size for row in rows}


def link(tx: Tx, repo_id: int, digest: str, size: int) -> None:
    now = time.time()
    tx.execute(_link(tx.dialect_name), {"repository_id": repo_id, "digest": digest,
                                        "size": size, "created_at": now,
                                        "unreferenced_since": now})


def mark_unlisted(tx: Tx, repo_id: int, digests: list[str]) -> None:
    """Start the wait of the links among these that no manifest lists any more (their
    manifest was just deleted)."""
    if digests:
        tx.execute(_mark_unlisted(), {"repo": repo_id, "now": time.time(),
                                      "digests": list_param(sorted(digests))})


def touch_link(tx: Tx, repo_id: int, digest: str) -> bool:
    """Restart the wait of a link no manifest lists (a client just asked for the blob: its
    manifest is likely on its way); False if the link is gone or listed meanwhile."""
    return tx.execute(_touch_link(), {"repo": repo_id, "digest": digest,
                                      "now": time.time()}) > 0


def unlink(tx: Tx, repo_id: int, digest: str) -> bool:
    return tx.execute(_unlink(), {"repo": repo_id, "digest": digest}) > 0


def referencing_manifest(tx: Tx, repo_id: int, digest: str) -> str | None:
    return tx.scalar(_referencing_manifest(), {"repo": repo_id, "digest": digest})


def pin(tx: Tx, key_ref: str, digest: str, size: int) -> None:
    """Record the object (or restart its grace period) before its bytes are relied on."""
    now = time.time()
    tx.execute(_pin(tx.dialect_name), {"key_ref": key_ref, "digest": digest, "size": size,
                                       "created_at": now, "unreferenced_since": now})


def hold(tx: Tx, key_ref: str, digest: str, safe_after: float) -> bool:
    """Take the object for a link, unless it is gone or was unreferenced since before
    ``safe_after`` (a collector may have deleted its bytes): False then."""
    return tx.execute(_hold_object(), {"key_ref": key_ref, "digest": digest,
                                       "safe": safe_after}) > 0
