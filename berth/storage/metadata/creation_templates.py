"""Rows of repository creation templates (berth/registry/repositories/templates.py): per
registry, a prefix (its matching form as the key, the text as given kept in the document)
and the template as a JSON document. A registry has few; they are read whole."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    update,
)

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

creation_templates = Table(
    "creation_templates", metadata,
    Column("registry_id", Integer, primary_key=True),
    Column("prefix", String(256), primary_key=True),  # without a trailing "/"; or ROOT
    Column("document", Text, nullable=False),          # JSON: the template's settings
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

_T = creation_templates.c
_KEY = (_T.registry_id == bindparam("registry")) & (_T.prefix == bindparam("prefix"))


@cache
def _all():
    return select(_T.prefix, _T.document, _T.created_at, _T.updated_at).where(
        _T.registry_id == bindparam("registry")).order_by(_T.prefix)


@cache
def _count():
    return select(func.count().label("n")).select_from(creation_templates).where(
        _T.registry_id == bindparam("registry"))


@cache
def _insert(dialect: str):
    return insert(dialect, creation_templates, "registry_id", "prefix", "document",
                  "created_at", "updated_at").on_conflict_do_nothing()


@cache
def _update():
    return update(creation_templates).where(_KEY).values(
        document=bindparam("document"), updated_at=bindparam("now"))


@cache
def _delete():
    return delete(creation_templates).where(_KEY)


def all_of(tx: "Tx", registry_id: int) -> list:
    """(prefix, document, created_at, updated_at) of each template, by prefix."""
    return tx.all(_all(), {"registry": registry_id})


def count(tx: "Tx", registry_id: int) -> int:
    return tx.scalar(_count(), {"registry": registry_id})


def add(tx: "Tx", registry_id: int, prefix: str, document: str, now: float) -> bool:
    """False if the registry has a template with that prefix already."""
    return tx.execute(_insert(tx.dialect_name), {
        "registry_id": registry_id, "prefix": prefix, "document": document,
        "created_at": now, "updated_at": now}) == 1


def replace(tx: "Tx", registry_id: int, prefix: str, document: str, now: float) -> bool:
    return tx.execute(_update(), {"registry": registry_id, "prefix": prefix,
                                  "document": document, "now": now}) == 1


def remove(tx: "Tx", registry_id: int, prefix: str) -> bool:
    return tx.execute(_delete(), {"registry": registry_id, "prefix": prefix}) == 1
