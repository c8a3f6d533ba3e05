import pytest

from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


# PostgreSQL joins this list when its driver lands; every metadata test runs on each.
@pytest.fixture(params=["sqlite"])
def db(request, tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()
