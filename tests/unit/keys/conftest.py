"""Fixtures for the key store: a migrated database (SQLite and PostgreSQL), a master key, an
account, and the key store opened as the server opens it."""
import os

import pytest

from berth.iam.identities import IdentityService
from berth.keys.master import MasterKey
from berth.keys import open_keys

REGION = "us-east-1"


@pytest.fixture
def master():
    return MasterKey(os.urandom(32))


@pytest.fixture
def account(db, master) -> str:
    return IdentityService(db, master).create_account("team").id


@pytest.fixture
def keys(db, master):
    return open_keys(db, master)
