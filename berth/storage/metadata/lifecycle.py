"""Rows of lifecycle policies (berth/lifecycle): the policy of a repository, its latest preview
and the images that preview would act on, the principals whose pulls are not recorded, and
the page-by-page read of a repository's images, newest first, that evaluation streams. The
tables are declared here, on the shared metadata, beside the statements that use them."""
from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)

from .schema import manifest_age, manifest_references, manifests, metadata, repositories
from .statements import in_list, insert, list_param

if TYPE_CHECKING:
    from .database import Tx


def _repository() -> Column:
    return Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
                  primary_key=True)


lifecycle_policies = Table(
    "lifecycle_policies", metadata, _repository(),
    Column("text", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_evaluated_at", Float),
)

# The latest preview of a repository (StartLifecyclePolicyPreview replaces it).
lifecycle_previews = Table(
    "lifecycle_previews", metadata, _repository(),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),  # IN_PROGRESS | COMPLETE | FAILED
    Column("as_of", Float, nullable=False),        # the time the rules were evaluated at
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("expiring", Integer, nullable=False, server_default="0"),
    Column("transitioning", Integer, nullable=False, server_default="0"),
    Column("error", String(500)),
)

lifecycle_preview_results = Table(
    "lifecycle_preview_results", metadata, _repository(),
    Column("position", Integer, primary_key=True),  # newest image first
    Column("digest", String(200), nullable=False),
    Column("tags", Text, nullable=False),  # JSON list
    Column("pushed_at", Float, nullable=False),
    Column("action", String(16), nullable=False),  # EXPIRE | TRANSITION
    Column("priority", Integer, nullable=False),
    Column("storage_class", String(16), nullable=False),  # STANDARD | ARCHIVE
)

pull_time_exclusions = Table(
    "pull_time_exclusions", metadata,
    Column("registry_id", Integer, primary_key=True),
    Column("principal_arn", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)

P, V, R, X = lifecycle_policies, lifecycle_previews, lifecycle_preview_results, pull_time_exclusions


# -- policies -------------------------------------------------------------------------------
@cache
def _policy():
    return select(P.c.text, P.c.updated_at, P.c.last_evaluated_at).where(
        P.c.repository_id == bindparam("repo"))


def policy(tx: "Tx", repo_id: int):
    return tx.first(_policy(), {"repo": repo_id})


@cache
def _put_policy(dialect: str):
    stmt = insert(dialect, P, "repository_id", "text", "updated_at")
    return stmt.on_conflict_do_update(index_elements=[P.c.repository_id],
                                      set_={"text": stmt.excluded.text,
                                            "updated_at": stmt.excluded.updated_at,
                                            "last_evaluated_at": None})


def put_policy(tx: "Tx", repo_id: int, text: str, now: float) -> None:
    tx.execute(_put_policy(tx.dialect_name), {"repository_id": repo_id, "text": text,
                                              "updated_at": now})


@cache
def _delete_policy():
    return delete(P).where(P.c.repository_id == bindparam("repo"))


def delete_policy(tx: "Tx", repo_id: int) -> None:
    tx.execute(_delete_policy(), {"repo": repo_id})


@cache
def _evaluated():
    return update(P).where(P.c.repository_id == bindparam("repo"),
                           P.c.text == bindparam("text")).values(last_evaluated_at=bindparam("at"))


def mark_evaluated(tx: "Tx", repo_id: int, text: str, at: float) -> None:
    """When the policy (unless replaced meanwhile) was last run."""
    tx.execute(_evaluated(), {"repo": repo_id, "text": text, "at": at})


@cache
def _due():
    return (select(P.c.repository_id, repositories.c.registry_id, repositories.c.name)
            .join(repositories, repositories.c.id == P.c.repository_id)
            .where(or_(P.c.last_evaluated_at.is_(None), P.c.last_evaluated_at < bindparam("before")),
                   P.c.repository_id > bindparam("after"))
            .order_by(P.c.repository_id).limit(bindparam("limit")))


def due(tx: "Tx", before: float, after: int, limit: int) -> list:
    """Repositories whose policy last ran before ``before`` (or never), by id after ``after``."""
    return tx.all(_due(), {"before": before, "after": after, "limit": limit})


# -- previews -------------------------------------------------------------------------------
@cache
def _preview():
    return select(V).where(V.c.repository_id == bindparam("repo"))


def preview(tx: "Tx", repo_id: int):
    return tx.first(_preview(), {"repo": repo_id})


@cache
def _clear_results():
    return delete(R).where(R.c.repository_id == bindparam("repo"))


@cache
def _start_preview(dialect: str):
    stmt = insert(dialect, V, "repository_id", "text", "status", "as_of", "started_at")
    return stmt.on_conflict_do_update(index_elements=[V.c.repository_id], set_={
        "text": stmt.excluded.text, "status": stmt.excluded.status, "as_of": stmt.excluded.as_of,
        "started_at": stmt.excluded.started_at, "finished_at": None, "expiring": 0,
        "transitioning": 0, "error": None})


def start_preview(tx: "Tx", repo_id: int, text: str, as_of: float, now: float,
                  status: str) -> None:
    tx.execute(_clear_results(), {"repo": repo_id})
    tx.execute(_start_preview(tx.dialect_name), {"repository_id": repo_id, "text": text,
                                                 "status": status, "as_of": as_of,
                                                 "started_at": now})


@cache
def _finish_preview():
    return update(V).where(V.c.repository_id == bindparam("repo"),
                           V.c.started_at == bindparam("started")).values(
        status=bindparam("status"), finished_at=bindparam("now"),
        expiring=bindparam("expiring"), transitioning=bindparam("transitioning"),
        error=bindparam("error"))


def finish_preview(tx: "Tx", repo_id: int, started_at: float, status: str, now: float,
                   expiring: int = 0, transitioning: int = 0, error: str | None = None) -> int:
    """Set the outcome of the preview started at ``started_at`` (0 rows if replaced since)."""
    return tx.execute(_finish_preview(), {"repo": repo_id, "started": started_at,
                                          "status": status, "now": now, "expiring": expiring,
                                          "transitioning": transitioning, "error": error})


@cache
def _add_result(dialect: str):
    return insert(dialect, R, "repository_id", "position", "digest", "tags", "pushed_at",
                  "action", "priority", "storage_class")


def add_results(tx: "Tx", rows: list[dict]) -> None:
    if rows:
        tx.executemany(_add_result(tx.dialect_name),
                       [{**row, "tags": json.dumps(row["tags"])} for row in rows])


@cache
def _results(tagged: bool | None, by_digest: bool):
    query = (select(R).where(R.c.repository_id == bindparam("repo"),
                             R.c.position > bindparam("after"))
             .order_by(R.c.position).limit(bindparam("limit")))
    if tagged is not None:
        query = query.where((R.c.tags != "[]") if tagged else (R.c.tags == "[]"))
    if by_digest:
        query = query.where(in_list(R.c.digest, "digests"))
    return query


def results(tx: "Tx", repo_id: int, after: int, limit: int, tagged: bool | None = None,
            digests: list[str] | None = None) -> list:
    """Results by position after ``after``: of tagged (or untagged) images only if
    ``tagged`` is given, of these digests only if ``digests`` is."""
    params = {"repo": repo_id, "after": after, "limit": limit}
    if digests is not None:
        params["digests"] = list_param(digests)
    return tx.all(_results(tagged, digests is not None), params)


# -- the images evaluation reads --------------------------------------------------------------
M = manifests
_AGE = manifest_age()


@cache
def _image_page(first: bool):
    """Top-level images of one status, newest first: not a manifest an index of the repository
    lists, not a referrer whose subject is in the repository (both go with their parent)."""
    ref, subject = manifest_references, manifests.alias()
    listed = exists().where(ref.c.repository_id == M.c.repository_id,
                            ref.c.child_digest == M.c.digest, ref.c.kind == "manifest")
    has_subject = exists().where(subject.c.repository_id == M.c.repository_id,
                                 subject.c.digest == M.c.subject_digest)
    query = (select(M.c.digest, M.c.pushed_at, M.c.last_pulled_at, M.c.image_status,
                    M.c.last_archived_at, M.c.last_activated_at, _AGE.label("age"))
             .where(M.c.repository_id == bindparam("repo"),
                    M.c.image_status == bindparam("status"), ~listed,
                    or_(M.c.subject_digest.is_(None), ~has_subject))
             .order_by(_AGE.desc(), M.c.digest.desc()).limit(bindparam("limit")))
    if not first:
        query = query.where(or_(_AGE < bindparam("age"),
                                and_(_AGE == bindparam("age"), M.c.digest < bindparam("digest"))))
    return query


def image_page(tx: "Tx", repo_id: int, status: str, after: tuple[float, str] | None,
               limit: int) -> list:
    """A page of images of ``status``, newest first, after (age, digest) of the last one."""
    params = {"repo": repo_id, "status": status, "limit": limit}
    if after is not None:
        params.update(age=after[0], digest=after[1])
    return tx.all(_image_page(after is None), params)


# -- pull-time exclusions -------------------------------------------------------------------
@cache
def _add_exclusion(dialect: str):
    return insert(dialect, X, "registry_id", "principal_arn", "created_at").on_conflict_do_nothing()


def add_exclusion(tx: "Tx", registry_id: int, arn: str, now: float) -> bool:
    """False if it was there already."""
    return tx.execute(_add_exclusion(tx.dialect_name), {"registry_id": registry_id,
                                                        "principal_arn": arn,
                                                        "created_at": now}) == 1


@cache
def _remove_exclusion():
    return delete(X).where(X.c.registry_id == bindparam("registry"),
                           X.c.principal_arn == bindparam("arn"))


def remove_exclusion(tx: "Tx", registry_id: int, arn: str) -> bool:
    return tx.execute(_remove_exclusion(), {"registry": registry_id, "arn": arn}) == 1


@cache
def _exclusions():
    return (select(X.c.principal_arn, X.c.created_at)
            .where(X.c.registry_id == bindparam("registry"), X.c.principal_arn > bindparam("after"))
            .order_by(X.c.principal_arn).limit(bindparam("limit")))


def exclusions(tx: "Tx", registry_id: int, after: str, limit: int) -> list:
    return tx.all(_exclusions(), {"registry": registry_id, "after": after, "limit": limit})


@cache
def _all_exclusions():
    return select(X.c.registry_id, X.c.principal_arn)


def all_exclusions(tx: "Tx") -> list:
    return tx.all(_all_exclusions())

