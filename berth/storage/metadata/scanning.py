"""Rows of image scans (berth/scanning): each image's latest scan with its status and severity
counts, its findings (kept across rescans, so that first and last observation times and
ACTIVE/CLOSED hold), and the package inventory of each layer, by digest (a layer shared by
many images is read once)."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (Boolean, Column, Float, ForeignKeyConstraint, Integer, LargeBinary,
                        String, Table, Text, bindparam, delete, false, func, select,
                        update)

from .schema import metadata, repositories
from .statements import in_list, insert, list_param

if TYPE_CHECKING:
    from .database import Tx

image_scans = Table(
    "image_scans", metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("scan_type", String(16), nullable=False),      # BASIC | ENHANCED
    Column("status", String(32), nullable=False),          # ECR's ScanStatus
    Column("description", String(500)),
    Column("requested_at", Float, nullable=False),         # the latest push or manual start
    Column("completed_at", Float),
    Column("source_updated_at", Float),
    Column("counts", Text),                                # JSON: severity -> ACTIVE findings
    Column("continuous", Boolean, nullable=False, server_default=false()),
    ForeignKeyConstraint(["repository_id", "digest"],
                         ["manifests.repository_id", "manifests.digest"], ondelete="CASCADE"),
)

scan_findings = Table(
    "scan_findings", metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),  # vulnerability + package + path, hashed
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),          # ACTIVE | CLOSED
    Column("first_observed_at", Float, nullable=False),
    Column("last_observed_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("detail", Text, nullable=False),                # JSON (berth.scanning.findings)
    ForeignKeyConstraint(["repository_id", "digest"],
                         ["image_scans.repository_id", "image_scans.digest"],
                         ondelete="CASCADE"),
)

layer_inventories = Table(
    "layer_inventories", metadata,
    Column("digest", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("content", LargeBinary),   # zlib-compressed JSON (berth.scanning.inventory)
    Column("error", String(500)),     # why the layer could not be read, if it could not
    # The reader that made the row (berth.scanning.inventory.layers.READER): an older one's
    # rows are read again, so a detector added later also sees layers scanned before it.
    Column("reader", Integer, nullable=False, server_default="0"),
)

S, F, L = image_scans, scan_findings, layer_inventories
_SCAN = (S.c.repository_id == bindparam("repo")) & (S.c.digest == bindparam("digest"))


# -- scans ----------------------------------------------------------------------------------
@cache
def _scans():
    return select(S).where(S.c.repository_id == bindparam("repo"), in_list(S.c.digest, "digests"))


def scans(tx: "Tx", repo_id: int, digests: list[str]) -> dict[str, object]:
    return {r.digest: r for r in tx.all(_scans(), {"repo": repo_id,
                                                   "digests": list_param(digests)})}


def scan(tx: "Tx", repo_id: int, digest: str):
    return scans(tx, repo_id, [digest]).get(digest)


@cache
def _start(dialect: str):
    stmt = insert(dialect, S, "repository_id", "digest", "scan_type", "status", "description",
                  "requested_at", "continuous")
    return stmt.on_conflict_do_update(index_elements=[S.c.repository_id, S.c.digest], set_={
        c: getattr(stmt.excluded, c)
        for c in ("scan_type", "status", "description", "requested_at", "continuous")})


def start(tx: "Tx", repo_id: int, digest: str, scan_type: str, continuous: bool,
          now: float) -> None:
    """The image's scan is IN_PROGRESS (its previous findings stay until it completes)."""
    tx.execute(_start(tx.dialect_name), {
        "repository_id": repo_id, "digest": digest, "scan_type": scan_type,
        "status": "IN_PROGRESS", "description": None, "requested_at": now,
        "continuous": continuous})


@cache
def _finish():
    return update(S).where(_SCAN).values(
        status=bindparam("status"), description=bindparam("description"),
        completed_at=bindparam("completed_at"), source_updated_at=bindparam("source_updated_at"),
        counts=bindparam("counts"))


def finish(tx: "Tx", repo_id: int, digest: str, status: str, description: str | None,
           completed_at: float, source_updated_at: float | None, counts: str | None) -> None:
    tx.execute(_finish(), {"repo": repo_id, "digest": digest, "status": status,
                           "description": description, "completed_at": completed_at,
                           "source_updated_at": source_updated_at, "counts": counts})


@cache
def _continuous():
    return (select(S.c.repository_id, S.c.digest, repositories.c.registry_id,
                   repositories.c.name)
            .join(repositories, repositories.c.id == S.c.repository_id)
            .where(S.c.continuous, (S.c.status == "COMPLETE") | (S.c.status == "ACTIVE"),
                   (S.c.repository_id > bindparam("repo"))
                   | ((S.c.repository_id == bindparam("repo"))
                      & (S.c.digest > bindparam("digest"))))
            .order_by(S.c.repository_id, S.c.digest).limit(bindparam("limit")))


def continuous(tx: "Tx", after: tuple[int, str], limit: int) -> list:
    """Completed scans of continuously scanned images, in key order after ``after``."""
    return tx.all(_continuous(), {"repo": after[0], "digest": after[1], "limit": limit})


EXPIRED = "SCAN_ELIGIBILITY_EXPIRED"


def _idle(cutoff_param: str):
    """The scanned image was neither pushed nor pulled since the cutoff."""
    from .schema import manifests as M
    cutoff = bindparam(cutoff_param)
    return (select(M.c.digest).where(
        M.c.repository_id == S.c.repository_id, M.c.digest == S.c.digest,
        M.c.pushed_at < cutoff, func.coalesce(M.c.last_pulled_at, 0.0) < cutoff).exists())


@cache
def _expire():
    return (update(S).where(S.c.continuous,
                            (S.c.status == "ACTIVE") | (S.c.status == "COMPLETE"),
                            _idle("cutoff"))
            .values(status=EXPIRED, description=bindparam("note")))


def expire_idle(tx: "Tx", cutoff: float, note: str) -> int:
    """Continuous scans of images idle since ``cutoff`` end (ECR's SCAN_ELIGIBILITY_EXPIRED);
    their last findings stay. Returns how many."""
    return tx.execute(_expire(), {"cutoff": cutoff, "note": note})


@cache
def _revivable():
    return (select(S.c.repository_id, S.c.digest, repositories.c.registry_id,
                   repositories.c.name, repositories.c.scan_on_push)
            .join(repositories, repositories.c.id == S.c.repository_id)
            .where(S.c.status == EXPIRED, ~_idle("cutoff")).limit(bindparam("limit")))


def revivable(tx: "Tx", cutoff: float, limit: int) -> list:
    """Expired scans whose image was pushed or pulled again since ``cutoff``."""
    return tx.all(_revivable(), {"cutoff": cutoff, "limit": limit})


# -- findings -------------------------------------------------------------------------------
@cache
def _findings():
    return select(F.c.key, F.c.status, F.c.first_observed_at, F.c.detail).where(
        F.c.repository_id == bindparam("repo"), F.c.digest == bindparam("digest"))


def finding_states(tx: "Tx", repo_id: int, digest: str) -> dict[str, tuple[str, float, str]]:
    """Each finding's status, first observation time and stored detail."""
    return {r.key: (r.status, r.first_observed_at, r.detail)
            for r in tx.all(_findings(), {"repo": repo_id, "digest": digest})}


@cache
def _put_finding(dialect: str):
    stmt = insert(dialect, F, "repository_id", "digest", "key", "severity", "status",
                  "first_observed_at", "last_observed_at", "updated_at", "detail")
    return stmt.on_conflict_do_update(
        index_elements=[F.c.repository_id, F.c.digest, F.c.key],
        set_={c: getattr(stmt.excluded, c) for c in
              ("severity", "status", "last_observed_at", "updated_at", "detail")})


def put_findings(tx: "Tx", rows: list[dict]) -> None:
    if rows:
        tx.executemany(_put_finding(tx.dialect_name), rows)


@cache
def _close():
    return update(F).where(F.c.repository_id == bindparam("repo"),
                           F.c.digest == bindparam("digest"), in_list(F.c.key, "keys")
                           ).values(status="CLOSED", updated_at=bindparam("now"))


def close(tx: "Tx", repo_id: int, digest: str, keys: list[str], now: float) -> None:
    tx.execute(_close(), {"repo": repo_id, "digest": digest, "keys": list_param(keys),
                          "now": now})


@cache
def _observed():
    return update(F).where(F.c.repository_id == bindparam("repo"),
                           F.c.digest == bindparam("digest"), F.c.status == "ACTIVE"
                           ).values(last_observed_at=bindparam("now"))


def observed(tx: "Tx", repo_id: int, digest: str, now: float) -> None:
    """Every ACTIVE finding of the image was seen again by the scan at ``now``."""
    tx.execute(_observed(), {"repo": repo_id, "digest": digest, "now": now})


@cache
def _page():
    return (select(F.c.key, F.c.severity, F.c.status, F.c.first_observed_at,
                   F.c.last_observed_at, F.c.updated_at, F.c.detail)
            .where(F.c.repository_id == bindparam("repo"), F.c.digest == bindparam("digest"),
                   F.c.key > bindparam("after"))
            .order_by(F.c.key).limit(bindparam("limit")))


def page(tx: "Tx", repo_id: int, digest: str, after: str, limit: int) -> list:
    """An image's findings in key order after ``after``."""
    return tx.all(_page(), {"repo": repo_id, "digest": digest, "after": after,
                            "limit": limit})


# -- layer inventories ----------------------------------------------------------------------
@cache
def _layers():
    return select(L).where(in_list(L.c.digest, "digests"))


def layers(tx: "Tx", digests: list[str]) -> dict[str, object]:
    return {r.digest: r for r in tx.all(_layers(), {"digests": list_param(digests)})}


@cache
def _put_layer(dialect: str):
    # A row of an older reader is replaced; one of this reader (a concurrent scan's) or of
    # a newer one (a node upgraded first) is kept.
    stmt = insert(dialect, L, "digest", "created_at", "content", "error", "reader")
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[L.c.digest], where=L.c.reader < new.reader,
        set_={"created_at": new.created_at, "content": new.content, "error": new.error,
              "reader": new.reader})


@cache
def _orphaned():
    from .schema import repository_blobs as RB
    linked = select(RB.c.digest).where(RB.c.digest == L.c.digest).exists()
    return (select(L.c.digest).where(~linked, L.c.created_at < bindparam("before"))
            .limit(bindparam("limit")))


@cache
def _drop_layers():
    return delete(L).where(in_list(L.c.digest, "digests"))


def drop_orphaned_layers(tx: "Tx", before: float, limit: int) -> int:
    """Forget up to ``limit`` layers' inventories that no repository links any more (made
    before ``before``: a push may be linking one right now); returns how many."""
    digests = [r.digest for r in tx.all(_orphaned(), {"before": before, "limit": limit})]
    if digests:
        tx.execute(_drop_layers(), {"digests": list_param(digests)})
    return len(digests)


def put_layer(tx: "Tx", digest: str, now: float, content: bytes | None,
              error: str | None, reader: int) -> None:
    tx.execute(_put_layer(tx.dialect_name), {"digest": digest, "created_at": now,
                                             "content": content, "error": error,
                                             "reader": reader})


# -- what a scan reads of the image ---------------------------------------------------------
@cache
def _manifest():
    from .schema import manifests as M
    return select(M.c.digest, M.c.media_type, M.c.content, M.c.image_status, M.c.pushed_at,
                  M.c.config_media_type).where(M.c.repository_id == bindparam("repo"),
                                               M.c.digest == bindparam("digest"))


def manifest(tx: "Tx", repo_id: int, digest: str):
    """A manifest's row with its content (None if gone)."""
    return tx.first(_manifest(), {"repo": repo_id, "digest": digest})


@cache
def _drop_except():
    return delete(F).where(F.c.repository_id == bindparam("repo"),
                           F.c.digest == bindparam("digest"), ~in_list(F.c.key, "keys"))


def drop_findings_except(tx: "Tx", repo_id: int, digest: str, keys: list[str]) -> None:
    """A basic rescan's findings replace the last ones: drop those it did not find."""
    tx.execute(_drop_except(), {"repo": repo_id, "digest": digest, "keys": list_param(keys)})
