"""Rows of pull-through caches (berth/pullthrough): the rules of each registry (a repository
prefix mapped to an upstream registry, as a JSON document), and the references each cache
has asked its upstream for: when a tag was last checked, and a manifest fetched but not yet
imported (its content kept until the import stores it as an image)."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    select,
    update,
)

from .schema import _name, metadata, repositories
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

pullthrough_rules = Table(
    "pullthrough_rules", metadata,
    Column("registry_id", Integer, primary_key=True),
    Column("prefix", String(64), primary_key=True),  # without a trailing "/"; or ROOT
    Column("document", Text, nullable=False),         # JSON: the rule
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

pullthrough_refs = Table(
    "pullthrough_refs", metadata,
    Column("registry_id", Integer, primary_key=True),
    Column("repository", _name(256), primary_key=True),
    Column("reference", String(300), primary_key=True),  # a tag or a digest
    Column("digest", String(200), nullable=False),       # what the upstream answered
    Column("media_type", String(256), nullable=False),
    Column("content", LargeBinary),                       # until imported, then NULL
    Column("checked_at", Float, nullable=False),
)

# Blobs being fetched from an upstream, one fetch per blob across the deployment: whoever
# holds the row fetches (renewing it as bytes arrive), the others wait for the blob.
pullthrough_fetches = Table(
    "pullthrough_fetches", metadata,
    Column("registry_id", Integer, primary_key=True),
    Column("repository", _name(256), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("expires_at", Float, nullable=False),
)

_R = pullthrough_rules.c
_F = pullthrough_refs.c
_RULE = (_R.registry_id == bindparam("registry")) & (_R.prefix == bindparam("prefix"))
_REF = ((_F.registry_id == bindparam("registry")) & (_F.repository == bindparam("repository"))
        & (_F.reference == bindparam("reference")))


@cache
def _rules():
    return select(_R.prefix, _R.document, _R.created_at, _R.updated_at).where(
        _R.registry_id == bindparam("registry")).order_by(_R.prefix)


@cache
def _add_rule(dialect: str):
    return insert(dialect, pullthrough_rules, "registry_id", "prefix", "document",
                  "created_at", "updated_at").on_conflict_do_nothing()


@cache
def _replace_rule():
    return update(pullthrough_rules).where(_RULE).values(
        document=bindparam("document"), updated_at=bindparam("now"))


@cache
def _ref():
    return select(_F.reference, _F.digest, _F.media_type, _F.content, _F.checked_at).where(_REF)


@cache
def _put_ref(dialect: str):
    statement = insert(dialect, pullthrough_refs, "registry_id", "repository", "reference",
                       "digest", "media_type", "content", "checked_at")
    return statement.on_conflict_do_update(
        index_elements=["registry_id", "repository", "reference"],
        set_={name: statement.excluded[name]
              for name in ("digest", "media_type", "content", "checked_at")})


@cache
def _imported():
    return update(pullthrough_refs).where(
        (_F.registry_id == bindparam("registry")) & (_F.repository == bindparam("repository"))
        & (_F.digest == bindparam("digest"))).values(content=None)


@cache
def _checked():
    return update(pullthrough_refs).where(_REF).values(checked_at=bindparam("now"))


def rules(tx: "Tx", registry_id: int) -> list:
    """(prefix, document, created_at, updated_at) of each rule, by prefix."""
    return tx.all(_rules(), {"registry": registry_id})


def add_rule(tx: "Tx", registry_id: int, prefix: str, document: str, now: float) -> bool:
    """False if the registry has a rule with that prefix already."""
    return tx.execute(_add_rule(tx.dialect_name), {
        "registry_id": registry_id, "prefix": prefix, "document": document,
        "created_at": now, "updated_at": now}) == 1


def replace_rule(tx: "Tx", registry_id: int, prefix: str, document: str, now: float) -> None:
    tx.execute(_replace_rule(), {"registry": registry_id, "prefix": prefix,
                                 "document": document, "now": now})


def remove_rule(tx: "Tx", registry_id: int, prefix: str) -> None:
    tx.execute(delete(pullthrough_rules).where(_RULE), {"registry": registry_id,
                                                         "prefix": prefix})


def ref(tx: "Tx", registry_id: int, repository: str, reference: str):
    """(reference, digest, media_type, content, checked_at) or None."""
    found = tx.all(_ref(), {"registry": registry_id, "repository": repository,
                            "reference": reference})
    return found[0] if found else None


def put_ref(tx: "Tx", registry_id: int, repository: str, reference: str, digest: str,
            media_type: str, content: bytes | None, now: float) -> None:
    tx.execute(_put_ref(tx.dialect_name), {
        "registry_id": registry_id, "repository": repository, "reference": reference,
        "digest": digest, "media_type": media_type, "content": content, "checked_at": now})


def imported(tx: "Tx", registry_id: int, repository: str, digest: str) -> None:
    """The manifest is an image now: its content is no longer kept here."""
    tx.execute(_imported(), {"registry": registry_id, "repository": repository,
                             "digest": digest})


def checked(tx: "Tx", registry_id: int, repository: str, reference: str, now: float) -> None:
    tx.execute(_checked(), {"registry": registry_id, "repository": repository,
                            "reference": reference, "now": now})


_H = pullthrough_fetches.c
_FETCH = ((_H.registry_id == bindparam("registry")) & (_H.repository == bindparam("repository"))
          & (_H.digest == bindparam("digest")))


@cache
def _claim(dialect: str):
    return insert(dialect, pullthrough_fetches, "registry_id", "repository", "digest",
                  "expires_at").on_conflict_do_nothing()


def claim_fetch(tx: "Tx", registry_id: int, repository: str, digest: str, now: float,
                until: float) -> bool:
    """Whether the fetch of this blob is the caller's now (a lapsed claim is taken over)."""
    key = {"registry": registry_id, "repository": repository, "digest": digest}
    tx.execute(delete(pullthrough_fetches).where(_FETCH & (_H.expires_at < bindparam("now"))),
               {**key, "now": now})
    return tx.execute(_claim(tx.dialect_name), {
        "registry_id": registry_id, "repository": repository, "digest": digest,
        "expires_at": until}) == 1


def renew_fetch(tx: "Tx", registry_id: int, repository: str, digest: str,
                until: float) -> None:
    tx.execute(update(pullthrough_fetches).where(_FETCH).values(expires_at=bindparam("until")),
               {"registry": registry_id, "repository": repository, "digest": digest,
                "until": until})


def release_fetch(tx: "Tx", registry_id: int, repository: str, digest: str) -> None:
    tx.execute(delete(pullthrough_fetches).where(_FETCH),
               {"registry": registry_id, "repository": repository, "digest": digest})


def fetch_claimed(tx: "Tx", registry_id: int, repository: str, digest: str,
                  now: float) -> bool:
    return bool(tx.all(select(_H.digest).where(_FETCH & (_H.expires_at >= bindparam("now"))),
                       {"registry": registry_id, "repository": repository, "digest": digest,
                        "now": now}))


def prune(tx: "Tx", lapsed_before: float, pending_before: float) -> int:
    """Forget fetch claims lapsed before ``lapsed_before``, manifests fetched before
    ``pending_before`` whose import never finished, and references of repositories that are
    gone; how many rows went."""
    gone = ~exists().where((repositories.c.registry_id == _F.registry_id)
                           & (repositories.c.name == _F.repository))
    return sum(tx.execute(statement, params) for statement, params in (
        (delete(pullthrough_fetches).where(_H.expires_at < bindparam("before")),
         {"before": lapsed_before}),
        (delete(pullthrough_refs).where(_F.content.is_not(None)
                                        & (_F.checked_at < bindparam("before"))),
         {"before": pending_before}),
        (delete(pullthrough_refs).where(gone), {})))
