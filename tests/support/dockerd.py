"""A private dockerd (vfs storage, no networking setup) on its own unix socket, for driving /usr/bin/docker."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.daemon import Daemon
from tests.support.mounts import unmount_under
from tests.support.ports import wait_until
from tests.support.procs import run

DOCKERD = "/usr/sbin/dockerd"
# /usr/local/bin/docker may be a different, newer client: always use Debian's.
DOCKER = "/usr/bin/docker"
STARTUP_TIMEOUT = 60


class Dockerd:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.data_root = self.base / "data"
        self.exec_root = self.base / "exec"
        self.socket = self.base / "docker.sock"
        self.pidfile = self.base / "docker.pid"
        self.config_dir = self.base / "client-config"
        self.log_path = self.base / "dockerd.log"
        self.daemon: Daemon | None = None

    @property
    def env(self) -> dict[str, str]:
        """Client environment: our socket, an isolated client config, the classic builder."""
        return {
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.config_dir),
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CLI_HINTS": "false",
        }

    def argv(self) -> list[str]:
        return [
            DOCKERD,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "-H", f"unix://{self.socket}",
            "--storage-driver", "vfs",
            # No host network side effects: no docker0 bridge, no iptables rules, no ip_forward sysctl.
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
            "--userland-proxy=false",
            "--log-level", "info",
            # No daemon.json from the host; 127.0.0.0/8 is an insecure registry by default.
            "--config-file", str(self.base / "daemon.json"),
        ]

    def start(self) -> "Dockerd":
        for d in (self.data_root, self.exec_root, self.config_dir):
            d.mkdir(parents=True, exist_ok=True)
        (self.base / "daemon.json").write_text("{}")
        (self.config_dir / "config.json").write_text("{}")
        daemon = self.daemon = Daemon(self.argv(), self.log_path).start()
        wait_until(lambda: not daemon.alive() or self._ping(), STARTUP_TIMEOUT, 0.25)
        if not (daemon.alive() and self._ping()):
            log = daemon.log_text()
            self.stop()
            raise RuntimeError(f"dockerd did not become ready within {STARTUP_TIMEOUT}s:\n{log}")
        return self

    def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            proc = subprocess.run([DOCKER, "version", "--format", "{{.Server.Version}}"],
                                  env={**os.environ, **self.env}, capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def docker(self, *args: str, timeout: float = 180, check: bool = True, **kw):
        return run([DOCKER, *args], env=self.env, timeout=timeout, check=check, **kw)

    def login(self, host: str, password: str, username: str = "AWS", check: bool = True):
        """``docker login --password-stdin`` (the daemon checks the credentials; the client keeps them
        in its isolated config dir)."""
        return self.docker("login", "-u", username, "--password-stdin", host, input=password.encode(),
                           check=check)

    def logout(self, host: str, check: bool = True):
        return self.docker("logout", host, check=check)

    def logins(self) -> dict:
        """The client config's ``auths`` section."""
        return json.loads((self.config_dir / "config.json").read_text()).get("auths", {})

    def _containerd_pid(self) -> int | None:
        """The managed containerd dockerd started for this exec-root, if it is still running."""
        try:
            pid = int((self.exec_root / "containerd" / "containerd.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if str(self.exec_root) in cmdline else None

    def stop(self) -> None:
        containerd = self._containerd_pid()
        if self.daemon is not None:
            self.daemon.stop(timeout=30)
        if containerd is not None:
            self._end_containerd(containerd)
        # dockerd bind-mounts its data root onto itself; a clean stop undoes that, a kill may not.
        unmount_under(self.base)

    def _end_containerd(self, pid: int) -> None:
        """dockerd normally stops its containerd; only if it did not, signal that exact pid."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self._containerd_pid() != pid:
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            wait_until(lambda: self._containerd_pid() != pid, wait, 0.2)

    def cleanup(self) -> None:
        unmount_under(self.base)
        for d in (self.data_root, self.exec_root):
            shutil.rmtree(d, ignore_errors=True)
