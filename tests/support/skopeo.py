"""Driving skopeo with an accept-anything policy, its own auth file, and plain HTTP to the local registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.procs import run

SKOPEO = "/usr/bin/skopeo"


class Skopeo:
    def __init__(self, workdir: Path, env: dict[str, str] | None = None):
        """``env``: more of skopeo's environment (a proxy's, tests/support/host_proxy.py)."""
        self.auth_file = Path(workdir) / "auth.json"
        self.auth_file.write_text('{"auths": {}}')
        self.extra_env = dict(env or {})

    @property
    def env(self) -> dict[str, str]:
        return {**self.extra_env, "REGISTRY_AUTH_FILE": str(self.auth_file)}

    def __call__(self, *args: str, timeout: float = 180, check: bool = True, input: bytes | None = None):
        return run([SKOPEO, "--insecure-policy", *args], env=self.env, timeout=timeout, check=check, input=input)

    def login(self, host: str, password: str, username: str = "AWS", check: bool = True):
        """``skopeo login`` into this instance's auth file (REGISTRY_AUTH_FILE), password on stdin."""
        return self("login", "--tls-verify=false", "-u", username, "--password-stdin", host,
                    input=password.encode(), check=check)

    def logout(self, host: str, check: bool = True):
        return self("logout", host, check=check)

    def logins(self) -> dict[str, Any]:
        """The auth file's ``auths`` section."""
        return json.loads(self.auth_file.read_text()).get("auths", {})

    def copy(self, src: str, dest: str, *flags: str):
        """Copy between transports; docker:// ends are plain-HTTP (no TLS verification)."""
        return self("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *flags, src, dest)

    def inspect(self, ref: str, *flags: str) -> Any:
        return json.loads(self("inspect", "--tls-verify=false", *flags, ref).stdout)

    def inspect_raw(self, ref: str, *flags: str) -> bytes:
        return run([SKOPEO, "--insecure-policy", "inspect", "--tls-verify=false", "--raw", *flags, ref],
                   env=self.env, text=False).stdout

    def list_tags(self, repo_ref: str) -> list[str]:
        return json.loads(self("list-tags", "--tls-verify=false", repo_ref).stdout)["Tags"]

    def delete(self, ref: str):
        return self("delete", "--tls-verify=false", ref)
