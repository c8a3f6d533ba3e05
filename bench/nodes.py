"""Several `berth serve` nodes of one deployment, benchmarked as one server: one PostgreSQL
database, one blob directory, one master key (BERTH_MASTER_KEY, as every node of a deployment
must share it). The first node bootstraps the database and writes the administrator's
credentials; the others find the administrator there, and its registry token is valid on
every node (the signing key lives in the database)."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from .servers import Berth, Server


class BerthNodes(Server):
    name = "berth-nodes"

    def __init__(self, workdir: Path, count: int, database_url: str, python: str | None = None,
                 workers: int | None = None, extra_args: list[str] | None = None):
        super().__init__(workdir)
        self.label = f"Berth x{count}"
        env = {"BERTH_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        args = [*(extra_args or []), "--database", database_url,
                "--storage", str(self.dir / "blobs")]
        self.nodes = [Berth(self.dir, python, workers, args, env) for _ in range(count)]
        self.port = self.nodes[0].port
        self.log_path = self.nodes[0].log_path

    @property
    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes if n.proc is not None]

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(n.port for n in self.nodes)

    def exited(self) -> str | None:
        for i, n in enumerate(self.nodes):
            if n.proc is not None and n.proc.poll() is not None:
                return f"node {i + 1} exited with {n.proc.returncode}"
        return None

    def data_dirs(self) -> list[Path]:
        return [self.dir / "blobs"]

    def start(self, timeout: float = 60.0) -> None:
        for n in self.nodes:  # one after the other: the first one migrates and bootstraps
            n.start(timeout)
        self.proc = self.nodes[0].proc

    def authorization(self) -> str:
        return self.nodes[0].authorization()

    def signing_credentials(self) -> tuple[str, str]:
        return self.nodes[0].signing_credentials()

    def code_fingerprint(self) -> str:
        return self.nodes[0].code_fingerprint()

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(f"[node {i + 1}]\n{node.log_tail(n)}"
                         for i, node in enumerate(self.nodes))

    def stop(self, keep_data: bool = False) -> None:
        try:
            for n in self.nodes:
                n.stop(keep_data=True)  # the data lives in self.dir, removed below
        finally:
            super().stop(keep_data)  # cleanups, then the shared data dir
