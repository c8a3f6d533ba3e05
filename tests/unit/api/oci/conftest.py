"""Fixtures for the OCI Distribution API tests: a registry app per test, in process."""
from __future__ import annotations

from typing import Iterator

import pytest


def pytest_configure(config):
    # Starlette's TestClient warns that its httpx support is deprecated; it still works.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with:UserWarning")


@pytest.fixture
def oci(tmp_path) -> Iterator["Oci"]:
    from .support import running_registry

    with running_registry(tmp_path / "data") as registry:
        yield registry
