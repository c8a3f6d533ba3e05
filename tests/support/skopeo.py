"""Driving skopeo with an accept-anything policy, an empty auth file, and plain HTTP to the local registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.procs import run

SKOPEO = "/usr/bin/skopeo"


class Skopeo:
    def __init__(self, workdir: Path):
        self.auth_file = Path(workdir) / "auth.json"
        self.auth_file.write_text('{"auths": {}}')

    def __call__(self, *args: str, timeout: float = 180, check: bool = True):
        return run([SKOPEO, "--insecure-policy", *args], env={"REGISTRY_AUTH_FILE": str(self.auth_file)},
                   timeout=timeout, check=check)

    def copy(self, src: str, dest: str, *flags: str):
        """Copy between transports; docker:// ends are plain-HTTP (no TLS verification)."""
        return self("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *flags, src, dest)

    def inspect(self, ref: str, *flags: str) -> Any:
        return json.loads(self("inspect", "--tls-verify=false", *flags, ref).stdout)

    def inspect_raw(self, ref: str, *flags: str) -> bytes:
        return run([SKOPEO, "--insecure-policy", "inspect", "--tls-verify=false", "--raw", *flags, ref],
                   env={"REGISTRY_AUTH_FILE": str(self.auth_file)}, text=False).stdout

    def list_tags(self, repo_ref: str) -> list[str]:
        return json.loads(self("list-tags", "--tls-verify=false", repo_ref).stdout)["Tags"]

    def delete(self, ref: str):
        return self("delete", "--tls-verify=false", ref)
