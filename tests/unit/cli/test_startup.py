"""berth.cli.startup: what is checked before any process serves: the blob storage, the
database (each failure one StartupError line naming the setting, never a password), and the
first start's bootstrap."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.cli.startup import Started, check_storage, migrated, prepare
from berth.config import Settings
from berth.serving.supervisor import StartupError

PASSWORD = "hunter2-secret"
NOBODY = 65534


def _startup_error(call: Callable[[], object]) -> str:
    with pytest.raises(StartupError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- storage ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://files.example/blobs", "gs://bucket/prefix"])
def test_an_unsupported_storage_url(tmp_path, url):
    message = _startup_error(lambda: check_storage(Settings(data_dir=tmp_path, storage=url)))
    assert message.startswith("storage: ")
    assert url in message


def test_a_writable_storage_directory_passes(tmp_path):
    check_storage(Settings(data_dir=tmp_path, storage=str(tmp_path / "blobs")))
    assert (tmp_path / "blobs" / "data").is_dir()


def test_storage_under_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    storage = str(tmp_path / "file" / "blobs")
    message = _startup_error(lambda: check_storage(Settings(data_dir=tmp_path,
                                                            storage=storage)))
    assert message.startswith("storage: ")
    assert storage in message


def _unprivileged(call: Callable[[], object]) -> str:
    """``call()`` in a child process as a user without privileges (root reads and writes
    whatever the modes say): "ok", or the exception it raised, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_end)
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            call()
            result = "ok"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = f"{type(exc).__name__}: {exc}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as fh:
        chunks.append(fh.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode()


@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can reach (pytest's tmp_path is its owner's only)."""
    path = Path(tempfile.mkdtemp(prefix="berth-startup-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("made", [True, False], ids=["existing-subdirectories", "empty"])
def test_an_unwritable_storage_directory(shared_dir, made):
    storage = shared_dir / "blobs"
    storage.mkdir()
    if made:
        for sub in ("data", "uploads"):
            (storage / sub).mkdir()
            (storage / sub).chmod(0o555)
    storage.chmod(0o555)
    settings = Settings(data_dir=shared_dir, storage=str(storage))
    result = _unprivileged(lambda: check_storage(settings))
    assert result.startswith("StartupError: storage: "), result
    assert str(storage) in result
    # The same directory, writable, passes (the child does see it).
    storage.chmod(0o777)
    for sub in storage.iterdir():
        sub.chmod(0o777)
    assert _unprivileged(lambda: check_storage(settings)) == "ok"


# --- database ---------------------------------------------------------------------------


def upgrade(settings: Settings) -> None:
    with migrated(settings):
        pass


def _database_error(tmp_path, url: str) -> str:
    message = _startup_error(lambda: upgrade(Settings(data_dir=tmp_path, database=url)))
    assert message.startswith("database: ")
    assert PASSWORD not in message
    return message


@pytest.mark.parametrize("url", [f"mysql://berth:{PASSWORD}@db.example/berth",
                                 f"oracle://berth:{PASSWORD}@db.example:1521/berth",
                                 f"mssql+pymssql://berth:{PASSWORD}@db.example/berth"])
def test_a_database_neither_sqlite_nor_postgresql(tmp_path, url):
    message = _database_error(tmp_path, url)
    assert "not a SQLite or PostgreSQL URL" in message
    assert "db.example" in message  # which one it was, password hidden


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_postgresql(tmp_path):
    port = _free_port()
    message = _database_error(tmp_path, f"postgresql://berth:{PASSWORD}@127.0.0.1:{port}/db")
    assert f"127.0.0.1:{port}" in message
    assert "cannot be used" in message
    assert "refused" in message.lower()


@pytest.mark.parametrize("url", [
    f"postgresql://berth:{PASSWORD}@db.example:notaport/berth",  # make_url's ValueError
    "not a database url",
    f"postgresql+nosuchdriver://berth:{PASSWORD}@db.example/berth",
])
def test_a_malformed_database_url(tmp_path, url):
    _database_error(tmp_path, url)


def test_a_sqlite_file_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    message = _database_error(tmp_path, f"sqlite:///{tmp_path / 'file' / 'metadata.db'}")
    assert "cannot be used" in message


def test_upgrade_makes_the_sqlite_schema(tmp_path):
    settings = Settings(data_dir=tmp_path)
    upgrade(settings)
    assert (tmp_path / "metadata.db").stat().st_size > 0
    upgrade(settings)  # at its head already: nothing to do, no error


# --- prepare ----------------------------------------------------------------------------


def test_prepare_bootstraps_once(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first = prepare(settings)
    assert isinstance(first, Started)
    assert first.first_start is True
    assert len(first.admin_account) == 12 and first.admin_account.isdigit()
    assert settings.credentials_path.is_file()
    assert (tmp_path / "data" / "metadata.db").is_file()
    credentials = settings.credentials_path.read_bytes()

    again = prepare(settings)
    assert again == Started(first.admin_account, False)
    assert settings.credentials_path.read_bytes() == credentials


def test_prepare_checks_storage_before_the_database(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", storage="ftp://files.example/blobs")
    assert _startup_error(lambda: prepare(settings)).startswith("storage: ")
    assert not (tmp_path / "data" / "metadata.db").exists()


def test_prepare_with_a_data_dir_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data"
    message = _startup_error(lambda: prepare(Settings(data_dir=data_dir)))
    assert message.startswith("data_dir: ")
    assert str(data_dir) in message


def test_unwritable_mode_is_really_unwritable_to_the_child(shared_dir):
    """The unprivileged child is what makes the storage tests above mean something."""
    target = shared_dir / "locked"
    target.mkdir()
    target.chmod(0o555)
    result = _unprivileged(lambda: (target / "x").write_text("x"))
    assert result.startswith("PermissionError"), result
    assert stat.S_IMODE(target.stat().st_mode) == 0o555
