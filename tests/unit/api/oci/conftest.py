"""Fixtures for the OCI Distribution API tests: a registry app per test, in process."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """One migrated metadata database, copied into each test's fresh data directory."""
    from .support import migrated_database

    path = migrated_database(tmp_path_factory.mktemp("template"))
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert not leftovers, f"migration left {leftovers} next to the database"
    return path


@pytest.fixture
def oci(tmp_path, migrated_template) -> Iterator:
    from .support import running_registry

    with running_registry(tmp_path / "data", migrated_template) as registry:
        yield registry
