import pytest

from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


@pytest.fixture
def db(database_url):
    """A migrated metadata database, on SQLite and on PostgreSQL (``database_url``)."""
    database = Database(database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()
