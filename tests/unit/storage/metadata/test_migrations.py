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
