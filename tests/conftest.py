import pytest

from tests.support.ceph import CephCluster
from tests.support.log_watch import LOGS
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the session; each user takes a fresh database from it."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


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
def database_url(request, tmp_path):
    """A fresh, empty metadata database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres").create_database()
