import shutil
from pathlib import Path

import pytest

from tests.support.ceph import CephCluster
from tests.support.log_watch import LOGS
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session", autouse=True)
def metrics_scratch():
    """Servers the tests kill (SIGKILL) or never start again leave their Prometheus scratch
    directories (/dev/shm/berth-*, off the data volume: berth.observability.prometheus);
    remove the ones this session made."""
    before = set(_scratch_dirs())
    yield
    for path in set(_scratch_dirs()) - before:
        if not _in_use(path):  # another session's server may still be writing there
            shutil.rmtree(path, ignore_errors=True)


def _in_use(path: Path) -> bool:
    """Whether a live process's metrics are in it (a directory per serving process's pid)."""
    from berth.observability.prometheus import alive

    runs = path / "metrics"
    return runs.is_dir() and any(p.name.isdigit() and alive(int(p.name))
                                 for p in runs.iterdir())


def _scratch_dirs() -> list[Path]:
    import tempfile

    roots = [Path("/dev/shm"), Path(tempfile.gettempdir())]
    return [p for root in roots if root.is_dir() for p in root.glob("berth-*")
            if p.is_dir() and len(p.name) == len("berth-") + 16]


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the session; each user takes a fresh database from it."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite metadata database made once, for tests to copy (see
    tests/support/metadata_templates.py: fresh_database)."""
    from tests.support.metadata_templates import migrated_sqlite

    return migrated_sqlite(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template(postgres) -> str:
    """The name of a migrated PostgreSQL database made once, for tests to copy with
    ``postgres.create_database(template=...)``; nothing stays connected to it."""
    from tests.support.metadata_templates import migrated_postgres

    return migrated_postgres(postgres)


@pytest.fixture(scope="session")
def ceph():
    """One single-node Ceph with the RADOS gateway (S3) for the session, unit and e2e tests
    alike; each user takes a fresh bucket (ceph.create_bucket()) or prefix."""
    cluster = CephCluster().start()
    for name, path in cluster.log_files().items():
        LOGS.add(name, path)
    yield cluster
    for name in cluster.log_files():
        LOGS.remove(name)
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_kind(request) -> str:
    """Each metadata database Berth supports, by name."""
    return request.param


@pytest.fixture
def database_url(request, database_kind, tmp_path):
    """A fresh, empty metadata database of each supported kind."""
    if database_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres").create_database()
