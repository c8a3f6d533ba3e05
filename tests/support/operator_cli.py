"""The command lines an operator and a CI job type, run against a node: ``aws`` and
``berth admin`` (online, signed with the administrator's credentials file unless given
another environment), in an environment without the machine's own AWS_* and BERTH_* settings.

    account = berth_admin(node, "accounts", "list")["Accounts"][0]["AccountId"]
    run(aws_cli(), "sts", "get-caller-identity", env=aws_env(AWS_ACCESS_KEY_ID=...))
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BERTH = Path(sys.executable).parent / "berth"


def aws_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    return {**env, "AWS_CONFIG_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1", **more}


def run(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess:
    """``ok``: it must succeed (else its output is in the assertion)."""
    proc = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=180)
    if ok:
        assert proc.returncode == 0, f"{args[:4]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def admin_env(node) -> dict[str, str]:
    return aws_env(AWS_SHARED_CREDENTIALS_FILE=str(node.data_dir / "admin-credentials"),
                   AWS_PROFILE="berth-admin")


def berth_admin(node, *args: str, ok: bool = True, env: dict[str, str] | None = None):
    """``berth admin ARGS --endpoint-url`` the node: its JSON, or (``ok`` False) the
    finished process."""
    proc = run(str(BERTH), "admin", *args, "--endpoint-url", node.url,
               env=env or admin_env(node), ok=ok)
    return json.loads(proc.stdout) if ok else proc
