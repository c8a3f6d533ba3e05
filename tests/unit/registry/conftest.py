import pytest

from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create


@pytest.fixture
def registry(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024,
                          registry_id=1)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()
