import shutil

import pytest

from berth.storage.metadata.database import Database


@pytest.fixture
def db(request, database_kind, tmp_path):
    """A migrated metadata database, on SQLite and on PostgreSQL: a copy of the session's
    migrated template (tests/support/metadata_templates.py), not a migration per test."""
    if database_kind == "sqlite":
        path = tmp_path / "metadata.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        cluster = request.getfixturevalue("postgres")
        url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    database = Database(url)
    yield database
    database.dispose()
    if not url.startswith("sqlite"):
        cluster.drop_database(url)
