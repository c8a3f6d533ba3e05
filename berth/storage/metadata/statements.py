"""Helpers for building statements once, with named parameters."""
from __future__ import annotations

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite


def params(*names: str) -> dict:
    return {name: bindparam(name) for name in names}


def insert(dialect: str, table: Table, *columns: str):
    """INSERT of the named columns from same-named parameters, in the dialect's own form
    (which offers on_conflict_do_nothing / on_conflict_do_update)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(params(*columns))


def in_list(column, prefix: str, count: int):
    """``column IN (:prefix0, :prefix1, ...)``: statements are cached per list length."""
    return column.in_([bindparam(f"{prefix}{i}") for i in range(count)])


def list_params(prefix: str, values: list) -> dict:
    return {f"{prefix}{i}": value for i, value in enumerate(values)}
