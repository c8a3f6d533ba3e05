"""Statements of garbage collection (berth.gc): pages of links and objects with what decides
their fate, and the guarded updates and deletes that re-state each condition in their WHERE
clause, so that a row a push took meanwhile is left alone."""
from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal, select, tuple_, update

from .blobs import LINK, LISTED, OBJECT
from .database import Tx
from .schema import blobs, repositories, repository_blobs
from .statements import in_list, insert, list_param

L, O = repository_blobs, blobs


def _links_of_object(*conditions):
    """Some link of a repository sealing with the object's key names the object."""
    return exists(select(literal(1)).select_from(
        L.join(repositories, repositories.c.id == L.c.repository_id)).where(
        L.c.digest == O.c.digest, repositories.c.key_ref == O.c.key_ref, *conditions))


_LINKED = _links_of_object()


def _page(table, first_key, flag, first: bool, waiting: bool):
    """A page of ``table`` in (first_key, digest) order, after the pair of parameters
    ``after0``, ``after1`` unless ``first``, with ``flag`` (a labelled EXISTS); ``waiting``:
    only rows whose wait has started (the flag is computed for those rows alone)."""
    key = (table.c[first_key], table.c.digest)
    query = select(*key, table.c.size, table.c.unreferenced_since, flag).order_by(*key)
    if not first:
        query = query.where(tuple_(*key) > tuple_(bindparam("after0"), bindparam("after1")))
    if waiting:
        query = query.where(table.c.unreferenced_since.is_not(None))
    return query.limit(bindparam("limit"))


@cache
def _links_page(first: bool, waiting: bool):
    return _page(L, "repository_id", LISTED.label("listed"), first, waiting)


@cache
def _objects_page(first: bool, waiting: bool):
    return _page(O, "key_ref", _LINKED.label("linked"), first, waiting)


def links_page(tx: Tx, after: tuple[int, str] | None, limit: int,
               waiting: bool = False) -> list:
    """Links with whether a manifest of their repository lists them (``waiting``: only
    those whose wait has started)."""
    after0, after1 = after or (0, "")
    return tx.all(_links_page(after is None, waiting),
                  {"after0": after0, "after1": after1, "limit": limit})


def objects_page(tx: Tx, after: tuple[str, str] | None, limit: int,
                 waiting: bool = False) -> list:
    """Objects with whether some link names them (``waiting``: as for links)."""
    after0, after1 = after or ("", "")
    return tx.all(_objects_page(after is None, waiting),
                  {"after0": after0, "after1": after1, "limit": limit})


@cache
def _mark_link():
    return update(L).where(LINK, L.c.unreferenced_since.is_(None), ~LISTED).values(
        unreferenced_since=bindparam("now"))


@cache
def _clear_link():
    return update(L).where(LINK, L.c.unreferenced_since.is_not(None), LISTED).values(
        unreferenced_since=None)


@cache
def _lock_link():
    return select(L.c.digest).where(LINK, L.c.unreferenced_since < bindparam("cutoff")
                                    ).with_for_update(skip_locked=True)


@cache
def _listed():
    return select(LISTED.label("listed")).where(LINK)


@cache
def _delete_link():
    return delete(L).where(LINK)


def mark_link(tx: Tx, repo: int, digest: str, now: float) -> bool:
    return tx.execute(_mark_link(), {"repo": repo, "digest": digest, "now": now}) > 0


def clear_link(tx: Tx, repo: int, digest: str) -> bool:
    return tx.execute(_clear_link(), {"repo": repo, "digest": digest}) > 0


def delete_link(tx: Tx, repo: int, digest: str, cutoff: float) -> bool:
    """Delete the link if it is still waiting past the cutoff and no manifest lists it. The
    row is locked first (passed over if a manifest put holds it); the listing is checked
    after, by a statement whose snapshot sees any put that committed while we waited."""
    params = {"repo": repo, "digest": digest, "cutoff": cutoff}
    if tx.first(_lock_link(), params) is None or tx.scalar(_listed(), params):
        return False
    return tx.execute(_delete_link(), params) > 0


@cache
def _release_object():
    # The object's wait starts when its last link's did (or later, if a push touched it).
    since = O.c.unreferenced_since
    return update(O).where(OBJECT, ~_LINKED).values(unreferenced_since=case(
        (and_(since.is_not(None), since > bindparam("since")), since),
        else_=bindparam("since")))


def release_object(tx: Tx, key_ref: str, digest: str, since: float) -> None:
    tx.execute(_release_object(), {"key_ref": key_ref, "digest": digest, "since": since})


@cache
def _release_unlinked():
    return update(O).where(O.c.key_ref == bindparam("key_ref"), O.c.unreferenced_since.is_(None),
                           ~_LINKED).values(unreferenced_since=bindparam("since"))


def release_unlinked(tx: Tx, key_ref: str, since: float) -> int:
    """Start the wait of every object under ``key_ref`` that no link names any more."""
    return tx.execute(_release_unlinked(), {"key_ref": key_ref, "since": since})


@cache
def _key_ref_of():
    return select(repositories.c.key_ref).where(repositories.c.id == bindparam("repo"))


def key_ref_of(tx: Tx, repo: int) -> str | None:
    return tx.scalar(_key_ref_of(), {"repo": repo})


@cache
def _mark_object():
    return update(O).where(OBJECT, O.c.unreferenced_since.is_(None), ~_LINKED).values(
        unreferenced_since=bindparam("now"))


@cache
def _clear_object():
    return update(O).where(OBJECT, O.c.unreferenced_since.is_not(None), _LINKED).values(
        unreferenced_since=None)


def mark_object(tx: Tx, key_ref: str, digest: str, now: float) -> bool:
    return tx.execute(_mark_object(), {"key_ref": key_ref, "digest": digest, "now": now}) > 0


def clear_object(tx: Tx, key_ref: str, digest: str) -> bool:
    return tx.execute(_clear_object(), {"key_ref": key_ref, "digest": digest}) > 0


@cache
def _claim_object():
    # SKIP LOCKED passes over rows a push holds now (they are not garbage); SQLite
    # serialises writers instead.
    return (select(O.c.size).where(OBJECT, O.c.unreferenced_since < bindparam("cutoff"))
            .with_for_update(skip_locked=True))


@cache
def _linked():
    return select(_LINKED.label("linked")).where(OBJECT)


@cache
def _delete_object():
    return delete(O).where(OBJECT)


def claim_object(tx: Tx, key_ref: str, digest: str, cutoff: float) -> int | None:
    """Lock the object if it is still garbage; its size, else None. The links are checked
    after the lock, by a statement that sees every link committed before it: a push links
    an object only while it holds the row."""
    params = {"key_ref": key_ref, "digest": digest, "cutoff": cutoff}
    row = tx.first(_claim_object(), params)
    if row is None or tx.scalar(_linked(), params):
        return None
    return row.size


def delete_object(tx: Tx, key_ref: str, digest: str) -> None:
    tx.execute(_delete_object(), {"key_ref": key_ref, "digest": digest})


_UNLINKABLE = and_(L.c.unreferenced_since < bindparam("cutoff"), ~LISTED)


@cache
def _count_unlinkable():
    return select(func.count().label("links")).select_from(L).where(_UNLINKABLE)


@cache
def _count_freeable():
    """Objects a sweep now would delete: no link would be left, and their wait (or that of
    the links it would delete) began before the cutoff."""
    since = O.c.unreferenced_since
    survivor = _links_of_object(~_UNLINKABLE | L.c.unreferenced_since.is_(None))
    return select(func.count().label("objects"),
                  func.coalesce(func.sum(O.c.size), 0).label("bytes")).where(
        ~survivor, (since < bindparam("cutoff"))
        | (since.is_(None) & _links_of_object(_UNLINKABLE)))


def count_unlinkable(tx: Tx, cutoff: float) -> int:
    return tx.scalar(_count_unlinkable(), {"cutoff": cutoff})


def count_freeable(tx: Tx, cutoff: float) -> tuple[int, int]:
    row = tx.first(_count_freeable(), {"cutoff": cutoff})
    return int(row.objects), int(row.bytes)  # PostgreSQL sums BIGINT as NUMERIC


@cache
def _known():
    # One key ref and a digest list: an index seek per digest on the primary key (a list of
    # pairs made SQLite scan the index for every batch).
    return select(O.c.digest).where(O.c.key_ref == bindparam("key_ref"),
                                    in_list(O.c.digest, "digests"))


def known(tx: Tx, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    by_ref: dict[str, list[str]] = {}
    for key_ref, digest in pairs:
        by_ref.setdefault(key_ref, []).append(digest)
    found = set()
    for key_ref, digests in by_ref.items():
        rows = tx.scalars(_known(), {"key_ref": key_ref, "digests": list_param(digests)})
        found.update((key_ref, digest) for digest in rows)
    return found


@cache
def _adopt(dialect: str):
    return insert(dialect, O, "key_ref", "digest", "size", "created_at",
                  "unreferenced_since").on_conflict_do_nothing(
        index_elements=["key_ref", "digest"])


def adopt(tx: Tx, key_ref: str, digest: str, size: int, since: float) -> bool:
    """Record an object found in the storage that no row knew, unreferenced since ``since``
    (its last write); False if a push recorded it meanwhile."""
    return tx.execute(_adopt(tx.dialect_name), {
        "key_ref": key_ref, "digest": digest, "size": size, "created_at": since,
        "unreferenced_since": since}) > 0


