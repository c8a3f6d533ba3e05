"""PostgreSQL for the nodes setup: a throwaway cluster (tests/support/postgres.py: initdb +
pg_ctl from Debian's postgresql package, fsync off), one fresh database per server start."""
from __future__ import annotations

from pathlib import Path


class PostgresBackend:
    def __init__(self):
        from tests.support.postgres import PostgresCluster  # psycopg: only where PG is used

        self.cluster = PostgresCluster()

    def start(self) -> "PostgresBackend":
        self.cluster.start()
        return self

    def stop(self) -> None:
        self.cluster.stop()

    def new_database(self) -> str:
        return self.cluster.create_database()

    def pids(self) -> list[int]:
        """The postmaster (its backends are its children)."""
        pid_file = Path(self.cluster.data) / "postmaster.pid"
        try:
            return [int(pid_file.read_text().split()[0])]
        except (OSError, IndexError, ValueError):
            return []
