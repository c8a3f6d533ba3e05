"""Fixtures for the identity code: a migrated database (SQLite and PostgreSQL), a master key,
the identity and token services over them, and IAM opened as the server opens it."""
import base64
import os

import pytest

from berth.config import Settings
from berth.iam.identities import IAM_GENERATION, IdentityService
from berth.keys.master import MasterKey
from berth.iam.tokens import TokenService
from berth.iam.wiring import open_iam
from berth.storage.metadata import registries as registry_rows


@pytest.fixture
def master():
    return MasterKey(os.urandom(32))


@pytest.fixture
def identities(db, master):
    return IdentityService(db, master)


@pytest.fixture
def tokens(db, master):
    service = TokenService(db, master, lifetime_seconds=3600)
    with db.write() as tx:
        service.ensure_signing_key(tx)
    return service


@pytest.fixture
def settings(tmp_path, database_url):
    return Settings(data_dir=tmp_path / "data", database=database_url)


@pytest.fixture
def iam(settings, db):
    return open_iam(settings, db)


@pytest.fixture
def iam_generation(db):
    """Reads the "iam" generation counter as a fresh transaction sees it."""
    def read() -> int:
        with db.read() as tx:
            return registry_rows.generation(tx, IAM_GENERATION)
    return read


def basic(token: str) -> str:
    """The Authorization header ``docker login`` sends with a registry token."""
    return "Basic " + base64.b64encode(f"AWS:{token}".encode()).decode()


@pytest.fixture
def basic_header():
    return basic
