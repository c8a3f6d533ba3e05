from __future__ import annotations

from functools import cache
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, delete, select, update

from .database import Database, Tx
from .schema import manifest_age, manifest_references, manifests, repositories, tags
from .statements import in_list, insert, list_param

_REPO = manifests.c.repository_id == bindparam("repo")
_HEAD_COLUMNS = (manifests.c.digest, manifests.c.media_type, manifests.c.size)
_COLUMNS = ("repository_id", "digest", "media_type", "artifact_type", "subject_digest",
            "config_digest", "config_media_type", "size", "total_size", "annotations",
            "content", "pushed_at")


@cache
def _lookup(by_tag: bool, with_content: bool):
    columns = [repositories.c.id.label("repository_id"), *_HEAD_COLUMNS,
               manifests.c.last_pulled_at, manifests.c.image_status]
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
    return query.where(repositories.c.registry_id == bindparam("registry"),
                       repositories.c.name == bindparam("name"))


@cache
def _get():
    return select(*_HEAD_COLUMNS).where(_REPO, manifests.c.digest == bindparam("digest"))


@cache
def _sizes(hold: bool):
    query = select(manifests.c.digest, manifests.c.size, manifests.c.total_size).where(
        _REPO, in_list(manifests.c.digest, "digests"))
    return query.order_by(manifests.c.digest).with_for_update(read=True) if hold else query


@cache
def _get_locked():
    return _get().with_for_update()


@cache
def _hold():
    return select(manifests.c.digest).where(
        _REPO, manifests.c.digest == bindparam("digest")).with_for_update(read=True)


@cache
def _insert(dialect: str):
    return insert(dialect, manifests, *_COLUMNS).on_conflict_do_nothing(
        index_elements=["repository_id", "digest"])


@cache
def _insert_reference(dialect: str):
    return insert(dialect, manifest_references, "repository_id", "parent_digest",
                  "child_digest", "kind").on_conflict_do_nothing()


@cache
def _parent_of():
    return select(manifest_references.c.parent_digest).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.child_digest == bindparam("digest"),
        manifest_references.c.kind == "manifest").limit(1)


@cache
def _remove_references():
    return delete(manifest_references).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.parent_digest == bindparam("digest"))


@cache
def _children(kind: str):
    return select(manifest_references.c.child_digest).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.parent_digest == bindparam("digest"),
        manifest_references.c.kind == kind)


@cache
def _remove():
    return delete(manifests).where(_REPO, manifests.c.digest == bindparam("digest"))


@cache
def _referrers(filtered: bool):
    query = select(manifests.c.digest, manifests.c.media_type, manifests.c.size,
                   manifests.c.artifact_type, manifests.c.annotations,
                   manifests.c.image_status).where(
        _REPO, manifests.c.subject_digest == bindparam("subject"))
    if filtered:
        query = query.where(manifests.c.artifact_type == bindparam("artifact_type"))
    return query.order_by(manifests.c.digest)


@cache
def _record_pull():
    last = manifests.c.last_pulled_at
    return update(manifests).where(
        _REPO, manifests.c.digest == bindparam("digest"),
        last.is_(None) | (last < bindparam("older_than")),
    ).values(last_pulled_at=bindparam("now"))


def lookup(db: Database, registry_id: int, repository: str, reference: str, by_tag: bool,
           with_content: bool):
    """One round trip for a pull: the repository id (None if unknown) and the manifest row
    (digest None if the reference is unknown)."""
    return db.fetch_one(_lookup(by_tag, with_content), {
        "registry": registry_id, "name": repository, "reference": reference})


def get(tx: Tx, repo_id: int, digest: str):
    return tx.first(_get(), {"repo": repo_id, "digest": digest})


def get_for_delete(tx: Tx, repo_id: int, digest: str):
    """get, locking the row: an index put listing it waits, or commits first (and then the
    deleter's next statement sees the index)."""
    return tx.first(_get_locked(), {"repo": repo_id, "digest": digest})


def sizes(tx: Tx, repo_id: int, digests: list[str],
          hold: bool = False) -> dict[str, tuple[int, int]]:
    """digest -> (manifest bytes, manifest plus everything it references); ``hold`` keeps
    the rows from being deleted until the transaction ends."""
    rows = tx.all(_sizes(hold), {"repo": repo_id, "digests": list_param(digests)})
    return {row.digest: (row.size, row.total_size) for row in rows}


def insert_new(tx: Tx, row: dict[str, Any], references: Iterable[tuple[str, str]]) -> bool:
    """Insert a manifest and its references; False if it was already there (then held
    until the transaction ends, so a tag put with it never names a deleted manifest)."""
    key = {"repo": row["repository_id"], "digest": row["digest"]}
    if tx.execute(_insert(tx.dialect_name), row) == 0:
        if tx.first(_hold(), key) is not None:
            return False
        tx.execute(_insert(tx.dialect_name), row)  # deleted meanwhile: in again
    refs = [{"repository_id": row["repository_id"], "parent_digest": row["digest"],
             "child_digest": child, "kind": kind} for child, kind in dict(references).items()]
    if refs:
        tx.executemany(_insert_reference(tx.dialect_name), refs)
    return True


@cache
def _parents_of():
    return select(manifest_references.c.parent_digest).where(
        manifest_references.c.repository_id == bindparam("repo"),
        manifest_references.c.child_digest == bindparam("digest"),
        manifest_references.c.kind == "manifest")


def parents_of(tx: Tx, repo_id: int, digest: str) -> list[str]:
    return tx.scalars(_parents_of(), {"repo": repo_id, "digest": digest})


def parent_of(tx: Tx, repo_id: int, digest: str) -> str | None:
    return tx.scalar(_parent_of(), {"repo": repo_id, "digest": digest})


def remove(tx: Tx, repo_id: int, digest: str) -> list[str]:
    """Delete the manifest and its references; returns the blobs it listed."""
    params = {"repo": repo_id, "digest": digest}
    blobs = tx.scalars(_children("blob"), params)
    tx.execute(_remove_references(), params)
    tx.execute(_remove(), params)
    return blobs


def child_manifests(tx: Tx, repo_id: int, digest: str) -> list[str]:
    """The manifests an index lists."""
    return tx.scalars(_children("manifest"), {"repo": repo_id, "digest": digest})


def referrers(tx: Tx, repo_id: int, subject: str, artifact_type: str | None) -> list:
    return tx.all(_referrers(artifact_type is not None),
                  {"repo": repo_id, "subject": subject, "artifact_type": artifact_type})


def record_pulls(tx: Tx, repo_id: int, digests: list[str], now: float,
                 older_than: float) -> None:
    """Stamp each manifest pulled now, unless a pull since older_than is on record."""
    tx.executemany(_record_pull(), [{"repo": repo_id, "digest": digest, "now": now,
                                     "older_than": older_than} for digest in digests])


@cache
def _set_status():
    return update(manifests).where(
        _REPO, in_list(manifests.c.digest, "digests"),
        manifests.c.image_status == bindparam("was")).values(
        image_status=bindparam("status"))


@cache
def _archive():
    return update(manifests).where(
        _REPO, in_list(manifests.c.digest, "digests"), manifests.c.image_status == "ACTIVE"
    ).values(image_status="ARCHIVED", last_archived_at=bindparam("now"))


@cache
def _activate():
    return update(manifests).where(
        _REPO, in_list(manifests.c.digest, "digests"), manifests.c.image_status == "ACTIVATING"
    ).values(image_status="ACTIVE", last_activated_at=bindparam("now"))


def archive(tx: Tx, repo_id: int, digests: list[str], now: float) -> int:
    """ACTIVE -> ARCHIVED (since now); returns how many moved."""
    return tx.execute(_archive(), {"repo": repo_id, "digests": list_param(digests), "now": now})


def start_restore(tx: Tx, repo_id: int, digests: list[str]) -> int:
    """ARCHIVED -> ACTIVATING."""
    return tx.execute(_set_status(), {"repo": repo_id, "digests": list_param(digests),
                                      "was": "ARCHIVED", "status": "ACTIVATING"})


def activate(tx: Tx, repo_id: int, digests: list[str], now: float) -> int:
    """ACTIVATING -> ACTIVE (restored now)."""
    return tx.execute(_activate(), {"repo": repo_id, "digests": list_param(digests), "now": now})


@cache
def _status():
    return select(manifests.c.image_status).where(_REPO, manifests.c.digest == bindparam("digest"))


def image_status(tx: Tx, repo_id: int, digest: str) -> str | None:
    return tx.scalar(_status(), {"repo": repo_id, "digest": digest})


@cache
def _states():
    return select(manifests.c.digest, manifests.c.image_status,
                  manifest_age().label("age")).where(_REPO, in_list(manifests.c.digest, "digests"))


def states(tx: Tx, repo_id: int, digests: list[str]) -> dict[str, tuple[str, float]]:
    """digest -> (image status, age time) of those that exist."""
    found = tx.all(_states(), {"repo": repo_id, "digests": list_param(digests)})
    return {r.digest: (r.image_status, r.age) for r in found}
