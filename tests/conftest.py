import pytest

from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the session; each user takes a fresh database from it."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty metadata database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres").create_database()
