"""Starting the registry under test: `berth serve` (default) or CNCF Distribution (BERTH_E2E_TARGET=distribution)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.daemon import Daemon
from tests.support.ports import free_port, wait_until

TARGET_ENV = "BERTH_E2E_TARGET"
TARGETS = ("berth", "distribution")
DISTRIBUTION_BIN = "/usr/bin/docker-registry"
STARTUP_TIMEOUT = 60


def selected_target() -> str:
    target = os.environ.get(TARGET_ENV, "").strip() or "berth"
    if target not in TARGETS:
        raise ValueError(f"{TARGET_ENV}={target!r}; expected one of {TARGETS}")
    return target


def distribution_config(data_dir: Path, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: info\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {data_dir}\n"
        "  delete:\n    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
        "  secret: berth-e2e-not-a-secret\n"
    )


@dataclass
class RegistryServer:
    """A running registry on 127.0.0.1:<port>; `host` is what clients put in image references."""

    target: str
    port: int
    daemon: Daemon

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repo: str, tag_or_digest: str) -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{repo}{sep}{tag_or_digest}"

    @property
    def supports_referrers(self) -> bool:
        return self.target != "distribution"

    def log_text(self) -> str:
        return self.daemon.log_text()

    def stop(self) -> None:
        self.daemon.stop()


def _argv(target: str, workdir: Path, port: int, berth_args: tuple[str, ...] = ()) -> list[str]:
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if target == "berth":
        return [sys.executable, "-m", "berth", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--data-dir", str(data_dir), *berth_args]
    config = workdir / "config.yml"
    config.write_text(distribution_config(data_dir, port))
    return [DISTRIBUTION_BIN, "serve", str(config)]


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/v2/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_registry(workdir: Path, target: str | None = None, attempts: int = 3,
                   berth_args: tuple[str, ...] = ()) -> RegistryServer:
    """Start the server on a free port and wait for GET /v2/ == 200; raise with its log if it never gets there."""
    target = target or selected_target()
    if target == "distribution" and not os.access(DISTRIBUTION_BIN, os.X_OK):
        raise RuntimeError(f"{DISTRIBUTION_BIN} is missing; install the docker-registry package")
    problems = []
    for attempt in range(attempts):
        port = free_port()
        run_dir = workdir / f"{target}-{attempt}"
        daemon = Daemon(_argv(target, run_dir, port, berth_args), run_dir / "server.log", cwd=run_dir).start()
        server = RegistryServer(target, port, daemon)
        url = server.url
        wait_until(lambda: _ready(url) or not daemon.alive(), STARTUP_TIMEOUT, 0.2)
        time.sleep(0.3)  # a server that lost the port race exits now, instead of another's answer fooling us
        if daemon.alive() and _ready(url):
            return server
        daemon.stop()
        problems.append(f"attempt {attempt + 1} on port {port} (exit code {daemon.returncode()}):\n{daemon.log_text()}")
        if "address already in use" not in daemon.log_text().lower():
            break
    raise RuntimeError(f"{target} registry did not become ready on GET /v2/:\n" + "\n".join(problems))
