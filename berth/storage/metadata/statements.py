"""Helpers for building statements once, with named parameters."""
from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Boolean, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


def params(*names: str) -> dict:
    return {name: bindparam(name) for name in names}


def insert(dialect: str, table: Table, *columns: str):
    """INSERT of the named columns from same-named parameters, in the dialect's own form
    (which offers on_conflict_do_nothing / on_conflict_do_update)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(params(*columns))


class _InList(ColumnElement):
    """``column`` is one of the values of the list parameter ``name`` (see in_list)."""

    __visit_name__ = "berth_in_list"
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("param", InternalTraversal.dp_clauseelement)]
    type = Boolean()

    def __init__(self, column, name: str):
        self.column = column
        self.param = bindparam(name)

    @property
    def _from_objects(self):
        return self.column._from_objects


@compiles(_InList)
def _in_json_array(element, compiler, **kw):
    # SQLite: the list is one JSON array; the index on the column is searched per value.
    return (f"{compiler.process(element.column, **kw)} IN "
            f"(SELECT value FROM json_each({compiler.process(element.param, **kw)}))")


@compiles(_InList, "postgresql")
def _any_of_json_array(element, compiler, **kw):
    # PostgreSQL: the array is made once (an init plan), then an index scan takes every
    # value. (A list parameter adapted as an array costs the client ~8 us a value.)
    return (f"{compiler.process(element.column, **kw)} = ANY(ARRAY(SELECT "
            f"json_array_elements_text(CAST({compiler.process(element.param, **kw)} AS json))))")


def in_list(column, name: str):
    """``column`` is one of the values of the list parameter ``name``, whose value
    list_param makes: one statement, and one compiled form, whatever the list's length.
    (A parameter per value made a statement per length: compiled and kept for each, which
    clients choosing the lengths grew without bound.)"""
    return _InList(column, name)


def list_param(values: Iterable[str]) -> str:
    """The value of an in_list parameter: the strings as one JSON array."""
    return json.dumps(list(values))
