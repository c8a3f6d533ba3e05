"""Starting the registry under test: `berth serve` (default) or CNCF Distribution (BERTH_E2E_TARGET=distribution).

Berth is started as every test starts it, as a :class:`tests.support.berth_node.BerthNode` (on the embedded
defaults unless ``berth_args`` say otherwise: SQLite and blob files in its data directory), which requires
authentication: once it is up, the administrator's registry token is fetched the way ECR users do
(`aws ecr get-login-password`, see tests/support/ecr_login.py) and kept on the server object for clients to
log in with. Distribution runs without authentication: its token is None."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.berth_node import BerthNode
from tests.support.daemon import Daemon
from tests.support.ecr_login import USER, http_auth
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
    data_dir: Path
    token: str | None = None  # the administrator's registry token; None: the registry needs no login
    node: BerthNode | None = None  # Berth's node (None for Distribution)

    @property
    def requires_auth(self) -> bool:
        return self.target == "berth"

    @property
    def username(self) -> str:
        return USER

    @property
    def auth(self) -> tuple[str, str] | None:
        """``requests``' ``auth=`` for this registry (HTTP Basic AWS:<token>), None without auth."""
        return http_auth(self.token)

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


def _argv(workdir: Path, port: int) -> list[str]:
    """Distribution's command line, with its configuration written under ``workdir``."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(distribution_config(data_dir, port))
    return [DISTRIBUTION_BIN, "serve", str(config)]


# What an unauthenticated GET /v2/ answers once Distribution is up (BerthNode waits for Berth's 401).
READY_STATUS = (200,)
# After the first answer, how long to wait for a server that lost the race for its port to exit, so
# that another server's answer on that port does not fool us.
PORT_RACE_SETTLE = 0.3


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/v2/", timeout=2).status_code in READY_STATUS
    except requests.RequestException:
        return False


def _lost_port_race(log: str) -> bool:
    return "address already in use" in log.lower()


def _start_berth(workdir: Path, attempts: int, berth_args: tuple[str, ...]) -> RegistryServer:
    """A BerthNode under ``workdir``/berth-<attempt>, on a new port while it loses port races."""
    problems = []
    for attempt in range(attempts):
        node = BerthNode(workdir / f"berth-{attempt}", berth_args)
        try:
            node.start()
            time.sleep(PORT_RACE_SETTLE)
            if node.daemon.alive():
                return RegistryServer("berth", node.port, node.daemon, node.data_dir, node.token,
                                      node=node)
            problem = f"berth exited (exit code {node.daemon.returncode()}):\n{node.log_text()}"
        except RuntimeError as exc:
            problem = str(exc)
        node.stop()
        problems.append(f"attempt {attempt + 1} on port {node.port}: {problem}")
        if not _lost_port_race(node.log_text()):
            break
    raise RuntimeError("berth registry did not start:\n" + "\n".join(problems))


def start_registry(workdir: Path, target: str | None = None, attempts: int = 3,
                   berth_args: tuple[str, ...] = ()) -> RegistryServer:
    """Start the server on a free port and wait until GET /v2/ answers (401 from Berth, 200 from Distribution);
    for Berth, then get the administrator's registry token. Raise with the server's log if either fails."""
    target = target or selected_target()
    if target == "berth":
        return _start_berth(workdir, attempts, berth_args)
    if not os.access(DISTRIBUTION_BIN, os.X_OK):
        raise RuntimeError(f"{DISTRIBUTION_BIN} is missing; install the docker-registry package")
    problems = []
    for attempt in range(attempts):
        port = free_port()
        run_dir = workdir / f"{target}-{attempt}"
        daemon = Daemon(_argv(run_dir, port), run_dir / "server.log", cwd=run_dir).start()
        server = RegistryServer(target, port, daemon, run_dir / "data")
        url = server.url
        wait_until(lambda: _ready(url) or not daemon.alive(), STARTUP_TIMEOUT, 0.2)
        time.sleep(PORT_RACE_SETTLE)  # a server that lost the port race exits now, instead of another's answer fooling us
        if daemon.alive() and _ready(url):
            return server
        daemon.stop()
        problems.append(f"attempt {attempt + 1} on port {port} (exit code {daemon.returncode()}):\n{daemon.log_text()}")
        if not _lost_port_race(daemon.log_text()):
            break
    raise RuntimeError(f"{target} registry did not become ready on GET /v2/:\n" + "\n".join(problems))
