"""Rows of repository_tags: the AWS resource tags (key/value) of a repository."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, select

from .database import Tx
from .schema import repository_tags
from .statements import in_list, insert, list_param

_REPO = repository_tags.c.repository_id == bindparam("repo")


@cache
def _list():
    return select(repository_tags.c.key, repository_tags.c.value).where(_REPO).order_by(
        repository_tags.c.key)


@cache
def _put(dialect: str):
    stmt = insert(dialect, repository_tags, "repository_id", "key", "value")
    return stmt.on_conflict_do_update(index_elements=["repository_id", "key"],
                                      set_={"value": stmt.excluded.value})


@cache
def _remove():
    return delete(repository_tags).where(_REPO, in_list(repository_tags.c.key, "keys"))


def all_tags(tx: Tx, repo_id: int) -> dict[str, str]:
    return dict(tx.all(_list(), {"repo": repo_id}))


def put(tx: Tx, repo_id: int, tags: dict[str, str]) -> None:
    if tags:
        tx.executemany(_put(tx.dialect_name), [
            {"repository_id": repo_id, "key": key, "value": value}
            for key, value in tags.items()])


def remove(tx: Tx, repo_id: int, keys: list[str]) -> None:
    if keys:
        tx.execute(_remove(), {"repo": repo_id, "keys": list_param(keys)})
