import pytest

from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


@pytest.fixture
def registry(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024)
    yield reg
    reg.close()
