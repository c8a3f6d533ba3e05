"""Isolated containers/storage roots for buildah and podman (vfs driver, private root/runroot/tmp), each with
its own auth file (REGISTRY_AUTH_FILE) that `buildah login` / `podman login` write."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tests.support.mounts import unmount_under
from tests.support.procs import run

BUILDAH = "/usr/bin/buildah"
PODMAN = "/usr/bin/podman"


class ContainersStorage:
    """One private image store; every buildah/podman call through it gets the same --root/--runroot."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.root = self.base / "root"
        # podman refuses a runroot path longer than 50 characters, so it cannot live under pytest's tmp dir.
        self.runroot = Path(tempfile.mkdtemp(prefix="berth-e2e-rr-", dir="/tmp"))
        self.tmpdir = self.base / "tmp"
        for d in (self.root, self.tmpdir):
            d.mkdir(parents=True, exist_ok=True)
        self.auth_file = self.base / "auth.json"
        self.auth_file.write_text('{"auths": {}}')

    @property
    def env(self) -> dict[str, str]:
        return {"REGISTRY_AUTH_FILE": str(self.auth_file), "TMPDIR": str(self.tmpdir)}

    def _storage_flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def buildah(self, *args: str, timeout: float = 180, **kw):
        return run([BUILDAH, *self._storage_flags(), *args], env=self.env, timeout=timeout, **kw)

    def podman(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None, **kw):
        """``env``: more environment for this call (say, a credential helper on PATH)."""
        flags = [*self._storage_flags(), "--tmpdir", str(self.tmpdir), "--events-backend", "file",
                 "--cgroup-manager", "cgroupfs"]
        return run([PODMAN, *flags, *args], env={**(env or {}), **self.env}, timeout=timeout,
                   **kw)

    def login(self, tool: str, host: str, password: str, username: str = "AWS", check: bool = True):
        """``buildah login`` or ``podman login`` (``tool``) into this store's auth file, password on stdin."""
        return self._tool(tool)("login", "--tls-verify=false", "-u", username, "--password-stdin", host,
                                input=password.encode(), check=check)

    def logout(self, tool: str, host: str, check: bool = True):
        return self._tool(tool)("logout", host, check=check)

    def logins(self) -> dict:
        """The auth file's ``auths`` section."""
        return json.loads(self.auth_file.read_text()).get("auths", {})

    def _tool(self, tool: str):
        if tool not in ("buildah", "podman"):
            raise ValueError(f"not a containers/storage tool: {tool!r}")
        return self.buildah if tool == "buildah" else self.podman

    def cleanup(self) -> None:
        for d in (self.runroot, self.base):
            unmount_under(d)
            shutil.rmtree(d, ignore_errors=True)
