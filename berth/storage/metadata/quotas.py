"""Rows of service quota overrides (berth/quotas): per account, or for the whole deployment
(scope "*"), a quota's value where it differs from ECR's default; and the counts the quotas
are checked against. Declared here, on the shared metadata, beside its statements."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (BigInteger, Column, Float, String, Table, bindparam, delete, func,
                        or_, select)

from .schema import manifests, metadata, registries, repositories
from .schema import repository_blobs as links
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

DEPLOYMENT = "*"

quotas = Table(
    "quotas", metadata,
    Column("scope", String(12), primary_key=True),  # an account id, or "*"
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

Q = quotas


@cache
def _put(dialect: str):
    stmt = insert(dialect, Q, "scope", "name", "value", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=["scope", "name"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})


@cache
def _statements():
    return {
        "remove": delete(Q).where(Q.c.scope == bindparam("scope"),
                                  Q.c.name == bindparam("name")),
        "overrides": select(Q.c.scope, Q.c.name, Q.c.value).where(
            or_(Q.c.scope == bindparam("account"), Q.c.scope == bindparam("all"))),
        "account": select(registries.c.account_id).where(registries.c.id == bindparam("id")),
        "repositories": select(func.count().label("n")).select_from(select(repositories.c.id).where(
            repositories.c.registry_id == bindparam("registry")).limit(
                bindparam("up_to")).subquery()),
        "repository_bytes": select(func.coalesce(func.sum(links.c.size), 0).label("n")).where(
            links.c.repository_id == bindparam("repo")),
        "account_bytes": _account_bytes(),
        "images": select(func.count().label("n")).select_from(select(manifests.c.digest).where(
            manifests.c.repository_id == bindparam("repo")).limit(
                bindparam("up_to")).subquery()),
    }


def _account_bytes():
    """Each object once per registry (as usage.by_registry counts), over the account's."""
    objects = (select(repositories.c.registry_id, repositories.c.key_ref, links.c.digest,
                      func.max(links.c.size).label("size"))
               .select_from(links.join(repositories, repositories.c.id == links.c.repository_id)
                            .join(registries, registries.c.id == repositories.c.registry_id))
               .where(registries.c.account_id == bindparam("account"))
               .group_by(repositories.c.registry_id, repositories.c.key_ref, links.c.digest)
               .subquery())
    return select(func.coalesce(func.sum(objects.c.size), 0).label("n"))


def repository_bytes(tx: "Tx", repo_id: int) -> int:
    return int(tx.scalar(_statements()["repository_bytes"], {"repo": repo_id}))


def account_bytes(tx: "Tx", account_id: str) -> int:
    return int(tx.scalar(_statements()["account_bytes"], {"account": account_id}))


def put(tx: "Tx", scope: str, name: str, value: int, now: float) -> None:
    tx.execute(_put(tx.dialect_name), {"scope": scope, "name": name, "value": value,
                                       "updated_at": now})


def remove(tx: "Tx", scope: str, name: str) -> bool:
    return tx.execute(_statements()["remove"], {"scope": scope, "name": name}) == 1


def overrides(tx: "Tx", account_id: str) -> list:
    """(scope, name, value) of the account's overrides and the deployment's."""
    return tx.all(_statements()["overrides"], {"account": account_id, "all": DEPLOYMENT})


def registry_account(tx: "Tx", registry_id: int) -> str:
    """The registry's account; "" for a registry without a row (repositories migrated from
    before registries existed wait for adoption under id 0)."""
    row = tx.first(_statements()["account"], {"id": registry_id})
    return "" if row is None else row.account_id


def count_repositories(tx: "Tx", registry_id: int, up_to: int) -> int:
    """How many repositories the registry has, counted up to ``up_to`` at most."""
    return tx.scalar(_statements()["repositories"], {"registry": registry_id, "up_to": up_to})


def count_images(tx: "Tx", repo_id: int, up_to: int) -> int:
    return tx.scalar(_statements()["images"], {"repo": repo_id, "up_to": up_to})
