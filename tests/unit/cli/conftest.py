"""The CLI runs in the test process here: ``main`` sets the process umask (as a Berth process
should); each test gets the one it started with back."""
from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    os.umask(previous)
    try:
        yield
    finally:
        os.umask(previous)
