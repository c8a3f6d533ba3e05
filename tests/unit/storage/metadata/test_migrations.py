import subprocess
import sys

import pytest
from sqlalchemy import inspect

from berth.storage.metadata import migrate
from berth.storage.metadata.schema import metadata


def test_migrations_reach_head_and_match_the_schema(db):
    assert migrate.current_revision(db) == migrate.head_revision(db)
    inspector = inspect(db.engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in inspector.get_columns(name)} == set(table.columns.keys()), name


def test_upgrade_is_idempotent(db):
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision(db)


def test_the_head_read_from_the_migration_files_is_alembics(db):
    assert migrate.head_from_files() == migrate.head_revision(db)
    assert migrate.current_revision(db) == migrate.head_revision(db)


def test_an_empty_database_has_no_current_revision(tmp_path):
    from berth.storage.metadata.database import Database

    empty = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        assert migrate.current_revision(empty) is None
    finally:
        empty.dispose()


def test_a_schema_at_the_head_is_upgraded_without_loading_alembic(db):
    url = db.url
    script = ("import sys\n"
              "from berth.storage.metadata import migrate\n"
              "from berth.storage.metadata.database import Database\n"
              f"db = Database({url!r})\n"
              "migrate.upgrade(db)\n"
              "print('alembic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)  # AUTOINCREMENT is SQLite's
def test_sqlite_tables_never_reuse_ids_where_the_schema_says_so(db):
    """AUTOINCREMENT in the migrated schema exactly where the metadata asks for it."""
    with db.engine.connect() as conn:
        ddl = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master "
                                        "WHERE type = 'table'").all())
    wanted = {name for name, table in metadata.tables.items()
              if table.dialect_options["sqlite"]["autoincrement"]}
    assert "repositories" in wanted
    assert {name for name in metadata.tables if "AUTOINCREMENT" in ddl[name]} == wanted
