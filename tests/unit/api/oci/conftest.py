"""Fixtures for the OCI Distribution API tests: a registry app per test, in process, on each
metadata database (SQLite and PostgreSQL), copied from a template migrated once per session."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.metadata_templates import DATABASES, fresh_database


@pytest.fixture(params=DATABASES)
def oci(request, tmp_path) -> Iterator:
    from .support import running_registry

    data_dir = tmp_path / "data"
    with fresh_database(request, request.param, data_dir) as database:
        with running_registry(data_dir, database) as registry:
            yield registry
