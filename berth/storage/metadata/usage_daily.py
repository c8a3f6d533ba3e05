"""Rows of the daily usage tables: storage samples (replaced: a day's sample taken again
overwrites it, the repository's tags of the day with it) and transfer counts (added to: every
process's flush adds its share); and the repositories' resource tags now."""
from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, delete, select

from .database import Tx
from .schema import registries, repositories, repository_tags
from .schema import usage_storage_daily as S
from .schema import usage_transfer_daily as T
from .statements import insert

_KEY = ["day", "account_id", "region", "repository"]


@cache
def _put_sample(dialect: str):
    stmt = insert(dialect, S, *_KEY, "storage_class", "bytes", "objects", "sampled_at", "tags")
    return stmt.on_conflict_do_update(
        index_elements=[*_KEY, "storage_class"],
        set_={name: stmt.excluded[name] for name in ("bytes", "objects", "sampled_at", "tags")})


@cache
def _drop_sample():
    return delete(S).where(*(S.c[name] == bindparam(name) for name in (*_KEY, "storage_class")))


@cache
def _add_transfer(dialect: str):
    stmt = insert(dialect, T, *_KEY, "bytes_inside", "bytes_outside", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=_KEY,
        set_={"bytes_inside": T.c.bytes_inside + stmt.excluded.bytes_inside,
              "bytes_outside": T.c.bytes_outside + stmt.excluded.bytes_outside,
              "updated_at": stmt.excluded.updated_at})


def _in_range(table, account: bool):
    where = [table.c.day >= bindparam("first"), table.c.day <= bindparam("last")]
    if account:
        where.append(table.c.account_id == bindparam("account"))
    return and_(*where)


@cache
def _samples(account: bool):
    return (select(S.c.day, S.c.account_id, S.c.region, S.c.repository, S.c.storage_class,
                   S.c.bytes, S.c.tags)
            .where(_in_range(S, account)).order_by(S.c.day))


@cache
def _transfers(account: bool):
    return (select(T.c.day, T.c.account_id, T.c.region, T.c.repository, T.c.bytes_inside,
                   T.c.bytes_outside)
            .where(_in_range(T, account)).order_by(T.c.day))


def _tags_of_repositories():
    return (select(registries.c.account_id, registries.c.region, repositories.c.name,
                   repository_tags.c.key, repository_tags.c.value)
            .select_from(repository_tags
                         .join(repositories, repositories.c.id == repository_tags.c.repository_id)
                         .join(registries, registries.c.id == repositories.c.registry_id)))


@cache
def _tag_values():
    return _tags_of_repositories().where(repository_tags.c.key == bindparam("key"))


@cache
def _all_tags():
    return _tags_of_repositories()


def put_samples(tx: Tx, rows: list[dict]) -> None:
    """Each row: day, account_id, region, repository, storage_class, bytes, objects,
    sampled_at, and tags (JSON text; None when not given: reports then use the tags now)."""
    if rows:
        tx.executemany(_put_sample(tx.dialect_name), [{"tags": None, **row} for row in rows])


def drop_samples(tx: Tx, keys: list[dict]) -> None:
    """Each key: day, account_id, region, repository, storage_class; its row goes if any."""
    if keys:
        tx.executemany(_drop_sample(), keys)


def add_transfers(tx: Tx, rows: list[dict]) -> None:
    """Each row: day, account_id, region, repository, bytes_inside, bytes_outside,
    updated_at; added to the day's row."""
    if rows:
        tx.executemany(_add_transfer(tx.dialect_name), rows)


def _range(first: str, last: str, account: str | None) -> dict:
    return {"first": first, "last": last, **({} if account is None else {"account": account})}


def samples(tx: Tx, first: str, last: str, account: str | None = None) -> list:
    return tx.all(_samples(account is not None), _range(first, last, account))


def transfers(tx: Tx, first: str, last: str, account: str | None = None) -> list:
    return tx.all(_transfers(account is not None), _range(first, last, account))


def tag_values(tx: Tx, key: str) -> dict[tuple[str, str, str], str]:
    """(account_id, region, repository) -> the value of resource tag ``key``, for the
    repositories that have it now."""
    return {(row.account_id, row.region, row.name): row.value
            for row in tx.all(_tag_values(), {"key": key})}


def all_tags(tx: Tx) -> dict[tuple[str, str, str], dict[str, str]]:
    """(account_id, region, repository) -> its resource tags now, for the repositories that
    have any."""
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in tx.all(_all_tags()):
        found.setdefault((row.account_id, row.region, row.name), {})[row.key] = row.value
    return found
