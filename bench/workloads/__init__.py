"""Benchmark workloads. Each is `fn(ctx) -> dict[str, float]` run in a child process.

The parent (bench/run.py) samples the server's RSS while the child drives it, so the load
generator never shares a Python interpreter (or GIL) with the sampler.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Ctx:
    host: str
    port: int
    seed: int              # unique per (run, server): blobs differ between runs
    opts: Any              # argparse namespace of bench/run.py (sizes, concurrency, ...)
    authorization: str | None = None  # Authorization header for every request (Berth)
    credentials: tuple[str, str] | None = None  # SigV4 key (Berth), for the ecr workload
    ports: tuple[int, ...] = ()  # every node's port when a deployment has several (else port)
    server_pids: tuple[int, ...] = ()  # the server's root processes, for its CPU time
    backend_pids: tuple[int, ...] = ()  # its storage/database daemons, for their CPU time
    base_url: str = ""     # the server's: https:// makes every connection TLS (httpc.configure)
    ca_file: str | None = None  # the CA its certificate is checked against, over HTTPS

    @property
    def all_ports(self) -> tuple[int, ...]:
        return self.ports or (self.port,)


class Timer:
    """Wall and client-CPU time of a block."""

    def __enter__(self) -> "Timer":
        self.cpu0, self.t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.cpu0
