from __future__ import annotations

import time
from collections import defaultdict
from functools import cache

from sqlalchemy import bindparam, delete, func, select, tuple_

from .database import Tx
from .schema import tags
from .statements import in_list, insert, list_param

_REPO = tags.c.repository_id == bindparam("repo")


@cache
def _get_digest():
    return select(tags.c.digest).where(_REPO, tags.c.name == bindparam("tag"))


@cache
def _digests_for():
    return select(tags.c.name, tags.c.digest).where(_REPO, in_list(tags.c.name, "names"))


@cache
def _times():
    return select(tags.c.name, tags.c.updated_at).where(_REPO, in_list(tags.c.name, "names"))


@cache
def _names_for():
    # No ORDER BY: sorting by name would steer the database to the (repository, name) key and
    # a scan of every tag; the digest index finds these, and Python sorts them.
    return select(tags.c.digest, tags.c.name).where(_REPO, in_list(tags.c.digest, "digests"))


@cache
def _names_between():
    return select(tags.c.digest, tags.c.name).where(
        _REPO, tags.c.digest >= bindparam("first"), tags.c.digest <= bindparam("last"))


@cache
def _count_for():
    return select(func.count().label("n")).select_from(tags).where(
        _REPO, tags.c.digest == bindparam("digest"))


@cache
def _put(dialect: str):
    stmt = insert(dialect, tags, "repository_id", "name", "digest", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "name"],
        set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at})


@cache
def _remove():
    return delete(tags).where(_REPO, tags.c.name == bindparam("tag"))


@cache
def _remove_for_digest():
    return delete(tags).where(_REPO, tags.c.digest == bindparam("digest"))


@cache
def _names(after: bool, limited: bool):
    # The spec's lexical order: case-insensitive, ties broken byte-wise.
    query = select(tags.c.name).where(_REPO).order_by(func.lower(tags.c.name), tags.c.name)
    if after:
        # The first condition lets the index seek; the second settles ties exactly.
        after_lower = func.lower(bindparam("after"))
        query = query.where(func.lower(tags.c.name) >= after_lower,
                            tuple_(func.lower(tags.c.name), tags.c.name) > tuple_(
                                after_lower, bindparam("after_raw")))
    if limited:
        query = query.limit(bindparam("limit"))
    return query


def get_digest(tx: Tx, repo_id: int, tag: str) -> str | None:
    return tx.scalar(_get_digest(), {"repo": repo_id, "tag": tag})


def digests_for(tx: Tx, repo_id: int, names: list[str]) -> dict[str, str]:
    """tag -> digest, for those of the names that exist."""
    if not names:
        return {}
    found = tx.all(_digests_for(), {"repo": repo_id, "names": list_param(names)})
    return {row.name: row.digest for row in found}


def times(tx: Tx, repo_id: int, names: list[str]) -> dict[str, float]:
    """tag -> when it was set to its image, for those of the names that exist."""
    if not names:
        return {}
    found = tx.all(_times(), {"repo": repo_id, "names": list_param(names)})
    return {row.name: row.updated_at for row in found}


def names_for(tx: Tx, repo_id: int, digests: list[str]) -> dict[str, list[str]]:
    """digest -> its tags, sorted."""
    if not digests:
        return {}
    return _group(tx.all(_names_for(), {"repo": repo_id, "digests": list_param(digests)}))


def _group(rows) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for digest, name in rows:
        found[digest].append(name)
    for names in found.values():
        names.sort()
    return found


def names_between(tx: Tx, repo_id: int, first: str, last: str) -> dict[str, list[str]]:
    """digest -> its tags, sorted, for every tagged digest in [first, last]: a page of images
    in digest order finds its tags with one range seek instead of a list of a thousand."""
    return _group(tx.all(_names_between(), {"repo": repo_id, "first": first, "last": last}))


def count_for(tx: Tx, repo_id: int, digest: str) -> int:
    return tx.scalar(_count_for(), {"repo": repo_id, "digest": digest})


def put(tx: Tx, repo_id: int, tag: str, digest: str) -> None:
    tx.execute(_put(tx.dialect_name), {"repository_id": repo_id, "name": tag, "digest": digest,
                                       "updated_at": time.time()})


def remove(tx: Tx, repo_id: int, tag: str) -> bool:
    return tx.execute(_remove(), {"repo": repo_id, "tag": tag}) > 0


def remove_for_digest(tx: Tx, repo_id: int, digest: str) -> None:
    tx.execute(_remove_for_digest(), {"repo": repo_id, "digest": digest})


def list_names(tx: Tx, repo_id: int, after: str | None, limit: int | None) -> list[str]:
    return tx.scalars(_names(bool(after), limit is not None),
                      {"repo": repo_id, "after": after, "after_raw": after, "limit": limit})
