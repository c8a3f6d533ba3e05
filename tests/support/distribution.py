"""CNCF Distribution (Debian's ``docker-registry``) as an upstream registry for a test: on a
free loopback port, optionally behind htpasswd authentication, stopped and started again on
the same port and data; the requests it answered are counted from its log."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.daemon import Daemon
from tests.support.ports import free_port, wait_until
from tests.support.registry_server import DISTRIBUTION_BIN, distribution_config

HTPASSWD = "/usr/bin/htpasswd"  # Debian's apache2-utils (bcrypt entries, as Distribution needs)


@dataclass
class Distribution:
    workdir: Path
    port: int
    credentials: tuple[str, str] | None = None
    daemon: Daemon | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> "Distribution":
        config = self.workdir / "config.yml"
        text = distribution_config(self.workdir / "data", self.port)
        if self.credentials:
            text += _htpasswd(self.workdir / "htpasswd", *self.credentials)
        config.write_text(text)
        self.daemon = Daemon([DISTRIBUTION_BIN, "serve", str(config)],
                             self.workdir / "registry.log").start()
        if not wait_until(self._ready, 30):
            raise RuntimeError(f"docker-registry did not start:\n{self.daemon.log_text()}")
        return self

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/v2/", timeout=2).status_code in (200, 401)
        except requests.RequestException:
            return False

    def requests_for(self, method: str, path_part: str) -> int:
        """How many ``method`` requests whose path contains ``path_part`` it answered."""
        text = self.daemon.log_path.read_text(errors="replace")
        # logrus quotes a value only when it has to: uri="/v2/..." or uri=/v2/...
        pattern = re.compile(r'http\.request\.method=' + method + r'\b.*?http\.request\.uri="?'
                             r'([^"\s]*)')
        return sum(1 for line in text.splitlines() if "response completed" in line
                   for m in [pattern.search(line)] if m and path_part in m.group(1))


def _htpasswd(path: Path, user: str, password: str) -> str:
    if shutil.which(HTPASSWD) is None:
        raise RuntimeError(f"{HTPASSWD} is missing: scripts/install-system-deps.sh installs "
                           "apache2-utils")
    entry = subprocess.run([HTPASSWD, "-Bbn", user, password], check=True,
                           capture_output=True, text=True).stdout.strip()
    path.write_text(entry + "\n")
    return f"auth:\n  htpasswd:\n    realm: berth-upstream\n    path: {path}\n"


def start_distribution(workdir: Path, credentials: tuple[str, str] | None = None
                       ) -> Distribution:
    workdir.mkdir(parents=True, exist_ok=True)
    return Distribution(workdir, free_port(), credentials).start()
