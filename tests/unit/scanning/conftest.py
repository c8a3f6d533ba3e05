"""Fixtures of the scanning domain's unit tests: a migrated SQLite metadata database copied
from the session's template (tests/support/metadata_templates.py), and a registry in it."""
from __future__ import annotations

import time

import pytest

from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database
from tests.support.metadata_templates import fresh_database

ACCOUNT = "111122223333"


@pytest.fixture
def sqlite_db(request, tmp_path):
    """A migrated SQLite metadata database of this test's own."""
    data_dir = tmp_path / "data"
    with fresh_database(request, "sqlite", data_dir):
        database = Database(f"sqlite:///{data_dir / 'metadata.db'}")
        yield database
        database.dispose()


@pytest.fixture
def registry_id(sqlite_db) -> int:
    """A registry (with its account) in ``sqlite_db``."""
    with sqlite_db.write() as tx:
        identity_rows.insert_account(tx, {"id": ACCOUNT, "name": "scanning", "is_admin": False,
                                          "created_at": time.time()})
        return registry_rows.ensure_registry(tx, ACCOUNT, "us-east-1")
