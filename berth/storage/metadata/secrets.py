"""Rows of sealed secrets (berth/secrets): one per account, region and name, its value sealed
with the master key. The table is declared here, on the shared metadata, beside the
statements that use it."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    LargeBinary,
    String,
    Table,
    bindparam,
    delete,
    select,
)

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

secrets = Table(
    "secrets", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("suffix", String(6), nullable=False),  # the ARN's, chosen once
    Column("value", LargeBinary, nullable=False),  # the JSON value, sealed
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

S = secrets
_DESCRIBED = (S.c.account_id, S.c.region, S.c.name, S.c.suffix, S.c.created_at,
              S.c.updated_at)
_KEY = ("account_id", "region", "name")


@cache
def _put(dialect: str):
    # A replacement keeps the suffix and the creation time.
    stmt = insert(dialect, S, *_KEY, "suffix", "value", "created_at", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})


def put(tx: "Tx", row: dict) -> None:
    tx.execute(_put(tx.dialect_name), row)


def _where(query, by_name: bool):
    query = query.where(S.c.account_id == bindparam("account"),
                        S.c.region == bindparam("region"))
    return query.where(S.c.name == bindparam("name")) if by_name else query


@cache
def _described(by_name: bool):
    return _where(select(*_DESCRIBED).order_by(S.c.name), by_name)


def described(tx: "Tx", account: str, region: str, name: str | None = None) -> list:
    """The account's secrets in the region (or the one named), by name, without values."""
    return tx.all(_described(name is not None),
                  {"account": account, "region": region, "name": name})


@cache
def _sealed():
    return _where(select(S.c.suffix, S.c.value), True)


def sealed(tx: "Tx", account: str, region: str, name: str):
    """(suffix, sealed value) of the secret, or None."""
    return tx.first(_sealed(), {"account": account, "region": region, "name": name})


@cache
def _delete():
    return _where(delete(S), True)


def remove(tx: "Tx", account: str, region: str, name: str) -> int:
    return tx.execute(_delete(), {"account": account, "region": region, "name": name})
