"""The few statements whose spelling differs between SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: Connection, table: Table):
    """An INSERT that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)
