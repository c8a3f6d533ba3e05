"""Rows of OpenID Connect identity providers (berth/iam/federation.py): per account, the
issuer URL (without its scheme, as IAM keys it), its audiences, pinned certificate thumbprints
and, for issuers Berth cannot reach, their keys (a JWKS). Declared here, on the shared
metadata, beside the statements that use it."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, ForeignKey, String, Table, Text, bindparam, delete, select

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

oidc_providers = Table(
    "oidc_providers", metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("url", String(255), primary_key=True),  # host[/path], no scheme
    Column("scheme", String(8), nullable=False),  # https (http: loopback issuers only)
    Column("client_ids", Text, nullable=False),  # JSON list
    Column("thumbprints", Text, nullable=False),  # JSON list
    Column("jwks", Text),  # a JWKS document when the keys are given, not fetched
    Column("created_at", Float, nullable=False),
)

O = oidc_providers


@cache
def _insert(dialect: str):
    return insert(dialect, O, "account_id", "url", "scheme", "client_ids", "thumbprints",
                  "jwks", "created_at")


@cache
def _where(query, one: bool):
    query = query.where(O.c.account_id == bindparam("account"))
    return query.where(O.c.url == bindparam("url")) if one else query.order_by(O.c.url)


def insert_provider(tx: "Tx", row: dict) -> None:
    tx.execute(_insert(tx.dialect_name), row)


def find_provider(tx: "Tx", account_id: str, url: str):
    return tx.first(_where(_SELECT, True), {"account": account_id, "url": url})


def list_providers(tx: "Tx", account_id: str) -> list:
    return tx.all(_where(_SELECT, False), {"account": account_id})


def delete_provider(tx: "Tx", account_id: str, url: str) -> bool:
    return tx.execute(_where(_DELETE, True), {"account": account_id, "url": url}) == 1


_SELECT, _DELETE = select(O), delete(O)
