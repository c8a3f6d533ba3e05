"""Rows of public registries (berth/public): each account's one public registry alias with
its gallery display name, and each public repository's catalog data (the Markdown texts, the
platforms, the logo). Declared here, on the shared metadata, beside their statements."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    select,
    update,
)

from .schema import metadata, registries, repositories
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

public_registries = Table(
    "public_registries", metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("alias", String(50), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("logo", LargeBinary),  # PNG, as uploaded
    Column("created_at", Float, nullable=False),
)

public_catalogs = Table(
    "public_catalogs", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("data", Text, nullable=False),  # JSON: the texts, architectures, systems
    Column("logo", LargeBinary),           # PNG, as uploaded
    Column("updated_at", Float, nullable=False),
)


@cache
def _by(column: str):
    t = public_registries
    return select(t.c.account_id, t.c.alias, t.c.display_name, t.c.description, t.c.logo,
                  t.c.created_at).where(
        t.c[column] == bindparam("value"))


@cache
def _insert(dialect: str):
    return insert(dialect, public_registries, "account_id", "alias", "display_name",
                  "created_at").on_conflict_do_nothing()


@cache
def _set(column: str):
    t = public_registries
    return update(t).where(t.c.account_id == bindparam("account")).values(
        {column: bindparam("value")})


@cache
def _catalog():
    t = public_catalogs
    return select(t.c.data, t.c.logo).where(t.c.repository_id == bindparam("repository"))


@cache
def _put_catalog(dialect: str):
    statement = insert(dialect, public_catalogs, "repository_id", "data", "logo", "updated_at")
    return statement.on_conflict_do_update(
        index_elements=["repository_id"],
        set_={"data": statement.excluded.data, "logo": statement.excluded.logo,
              "updated_at": statement.excluded.updated_at})


@cache
def _catalogs():
    t, r = public_catalogs, repositories
    return select(r.c.name, t.c.data).select_from(t.join(r, r.c.id == t.c.repository_id)).where(
        r.c.registry_id == bindparam("registry"))


@cache
def _listings(one_alias: bool):
    r, g, p, c = repositories, registries, public_registries, public_catalogs
    query = select(p.c.alias, r.c.name, r.c.created_at, c.c.data).select_from(
        r.join(g, g.c.id == r.c.registry_id).join(p, p.c.account_id == g.c.account_id)
        .outerjoin(c, c.c.repository_id == r.c.id)).where(g.c.region == bindparam("region"))
    if one_alias:
        query = query.where(p.c.alias == bindparam("alias"))
    return query.order_by(p.c.alias, r.c.name)


def listings(tx: "Tx", region: str, alias: str | None = None) -> list:
    """(alias, repository name, created_at, catalog data JSON or None) of every repository
    of the public registries (``region``: theirs), or of the one with ``alias``."""
    params = {"region": region} if alias is None else {"region": region, "alias": alias}
    return tx.all(_listings(alias is not None), params)


def registry_by(tx: "Tx", column: str, value: str):
    """The public registry row whose ``account_id`` or ``alias`` is ``value``, or None."""
    return tx.first(_by(column), {"value": value})


def add_registry(tx: "Tx", account_id: str, alias: str, created_at: float) -> bool:
    """False when the account has one already or the alias is taken."""
    return tx.execute(_insert(tx.dialect_name), {
        "account_id": account_id, "alias": alias, "display_name": "",
        "created_at": created_at}) == 1


def set_registry(tx: "Tx", account_id: str, column: str, value) -> None:
    tx.execute(_set(column), {"account": account_id, "value": value})


def catalog(tx: "Tx", repository_id: int):
    """(data JSON, logo bytes or None) of a repository, or None when it has none."""
    return tx.first(_catalog(), {"repository": repository_id})


def put_catalog(tx: "Tx", repository_id: int, data: str, logo: bytes | None,
                updated_at: float) -> None:
    tx.execute(_put_catalog(tx.dialect_name), {"repository_id": repository_id, "data": data,
                                               "logo": logo, "updated_at": updated_at})


def catalogs(tx: "Tx", registry_id: int) -> list:
    """(repository name, data JSON) of each repository of the registry with catalog data."""
    return tx.all(_catalogs(), {"registry": registry_id})
