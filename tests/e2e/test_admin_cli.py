"""``berth admin`` online, as an operator runs it: the console script against a real server,
signing with the administrator's credentials file; then offline on the stopped node's data
directory, which must show what the online commands made."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.berth_node import BerthNode

pytestmark = pytest.mark.e2e

BERTH = Path(sys.executable).parent / "berth"
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListAccessKeys"], "Resource": "*"}]}


@pytest.fixture
def node(tmp_path):
    node = BerthNode(tmp_path).start()
    try:
        yield node
    finally:
        node.stop()


def _env(**aws: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    return {**env, "AWS_CONFIG_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", **aws}


def berth(*args: str, env: dict[str, str], status: int = 0):
    proc = subprocess.run([str(BERTH), "admin", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout) if status == 0 else proc.stderr


def test_online_then_offline(node: BerthNode):
    admin_env = _env(AWS_SHARED_CREDENTIALS_FILE=str(node.data_dir / "admin-credentials"))
    online = ("--endpoint-url", node.url, "--profile", "berth-admin")

    def admin(*args: str, status: int = 0):
        return berth(*args, *online, env=admin_env, status=status)

    account = admin("accounts", "create", "team-a")["Account"]["AccountId"]
    acct = ("--account", account)
    assert admin("users", "create", *acct, "ci", "--path", "/bots/")["User"]["Arn"] == (
        f"arn:aws:iam::{account}:user/bots/ci")
    key = admin("access-keys", "create", *acct, "--user", "ci")["AccessKey"]
    error = admin("policies", "put", *acct, "--user", "ci", "--name", "bad",
                  "--document", '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}',
                  status=1)
    assert "MalformedPolicyDocument: Statement[0].Effect" in error
    admin("policies", "put", *acct, "--user", "ci", "--name", "read",
          "--document", json.dumps(POLICY))

    # The new key works online (its policy allows listing), until it is deactivated.
    ci_env = _env(AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                  AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
                  AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    listed = berth("users", "list", *acct, "--endpoint-url", node.url, env=ci_env)
    assert [u["UserName"] for u in listed["Users"]] == ["ci"]
    denied = berth("users", "create", *acct, "intruder", "--endpoint-url", node.url,
                   env=ci_env, status=1)
    assert "AccessDeniedException" in denied
    assert admin("access-keys", "deactivate", *acct, key["AccessKeyId"]) == {}
    refused = berth("users", "list", *acct, "--endpoint-url", node.url, env=ci_env, status=1)
    assert "UnrecognizedClientException" in refused

    node.stop()
    assert key["SecretAccessKey"] not in node.log_text()
    offline = ("--data-dir", str(node.data_dir))
    env = _env()
    accounts = berth("accounts", "list", *offline, env=env)["Accounts"]
    assert {a["AccountName"] for a in accounts} == {"admin", "team-a"}
    assert [u["UserName"] for u in berth("users", "list", *acct, *offline, env=env)[
        "Users"]] == ["ci"]
    keys = berth("access-keys", "list", *acct, "--user", "ci", *offline, env=env)
    assert [(k["AccessKeyId"], k["Status"]) for k in keys["AccessKeyMetadata"]] == [
        (key["AccessKeyId"], "Inactive")]
    assert berth("policies", "get", *acct, "--user", "ci", "--name", "read", *offline,
                 env=env)["PolicyDocument"] == POLICY


def test_a_secret_put_online_is_listed_offline_and_never_shown(node: BerthNode, tmp_path):
    admin_env = _env(AWS_SHARED_CREDENTIALS_FILE=str(node.data_dir / "admin-credentials"))
    token, name = "dckr_pat_e2e-never-shown", "ecr-pullthroughcache/docker-hub"
    (tmp_path / "token").write_text(token + "\n")
    made = berth("secrets", "put", name, "--username", "alice", "--token-file",
                 str(tmp_path / "token"), "--endpoint-url", node.url, "--profile",
                 "berth-admin", env=admin_env)["Secret"]
    assert made["ARN"].split(":secret:")[1].startswith(f"{name}-")

    node.stop()
    assert token not in node.log_text()
    listed = berth("secrets", "list", "--account", made["ARN"].split(":")[4],
                   "--data-dir", str(node.data_dir), env=_env())
    assert listed == {"Secrets": [made]}
