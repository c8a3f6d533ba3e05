"""``berth`` itself: what every command does before its work. Here: whatever it creates in
the data directory (the directory, metadata.db and SQLite's files beside it, master.key,
admin-credentials) is its user's alone, whatever umask it was started with."""
from __future__ import annotations

import os
import stat

import pytest

from berth.cli.main import main


@pytest.mark.parametrize("argv", [["db", "upgrade"], ["admin", "accounts", "list"]])
def test_the_data_directory_is_private(tmp_path, argv, capsys):
    data_dir = tmp_path / "data"
    os.umask(0o022)  # a common default: group and others may read
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
    made = [data_dir, *data_dir.rglob("*")]
    assert {p.name for p in made} >= {"data", "metadata.db"}
    if argv[0] == "admin":  # the first start of a deployment: its secrets
        assert {p.name for p in made} >= {"master.key", "admin-credentials"}
    for path in made:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
