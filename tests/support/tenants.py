"""Accounts as an operator makes them (``berth admin`` online, as the administrator) and their
users' aws CLI, for end-to-end tests of what accounts reach and see of each other."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.berth_node import BerthNode
from tests.support.credentials import AccessKey, admin_key
from tests.support.ecr_login import aws_cli

BERTH = Path(sys.executable).parent / "berth"
REGION = "us-east-1"
ALLOW_ECR = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}


def clean_env(key: AccessKey, region: str = REGION) -> dict[str, str]:
    """Our environment without the machine's AWS_*/BERTH_* settings, plus ``key``'s."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    return {**base, **key.env(region)}


def aws(node: BerthNode, key: AccessKey, *args: str, region: str = REGION,
        fails: bool = False):
    """``aws ecr ARGS``' JSON output, or its error text when it is expected to fail (exit
    code 254 or 255, by version)."""
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", node.url,
                           "--output", "json"], env=clean_env(key, region),
                          capture_output=True, text=True, timeout=120, check=False)
    assert (proc.returncode != 0) == fails, proc.stderr
    return proc.stderr if fails else json.loads(proc.stdout or "{}")


def berth_admin(node: BerthNode, *args: str) -> dict:
    proc = subprocess.run([str(BERTH), "admin", *args, "--endpoint-url", node.url],
                          env=clean_env(admin_key(node.credentials_dir)), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def new_account(node: BerthNode, name: str, user: str = "dev",
                policy: dict = ALLOW_ECR) -> tuple[str, AccessKey]:
    """A new account with a user whose identity policy is ``policy`` (every ECR action):
    the account's id and the user's access key."""
    account = berth_admin(node, "accounts", "create", name)["Account"]["AccountId"]
    berth_admin(node, "users", "create", "--account", account, user)
    berth_admin(node, "policies", "put", "--account", account, "--user", user,
                "--name", "ecr", "--document", json.dumps(policy))
    made = berth_admin(node, "access-keys", "create", "--account", account, "--user", user)
    return account, AccessKey(made["AccessKey"]["AccessKeyId"],
                              made["AccessKey"]["SecretAccessKey"])
