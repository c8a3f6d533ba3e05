"""Repository policies as ECR users manage them: the aws CLI against ``berth serve`` sets a
policy granting another account pull, that account's user pulls with skopeo (logged in the ECR
way), and deleting the policy takes the access away at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.berth_node import BerthNode
from tests.support.berth_server import running_node
from tests.support.credentials import AccessKey, admin_key
from tests.support.ecr_login import aws_cli, get_login_password
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

BERTH = Path(sys.executable).parent / "berth"
REPOSITORY = "shared/app"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
DENIED = ("denied", "unauthorized", "not authorized", "forbidden")


@pytest.fixture
def node(tmp_path):
    with running_node(tmp_path) as node:
        yield node


def _env(key: AccessKey) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    return {**base, **key.env()}


def aws(node: BerthNode, key: AccessKey, *args: str, fails: bool = False):
    """The aws CLI's output, or its error text when it is expected to fail (exit code 254
    or 255, by version)."""
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", node.url,
                           "--output", "json"], env=_env(key), capture_output=True, text=True,
                          timeout=120)
    assert (proc.returncode != 0) == fails, proc.stderr
    return proc.stderr if fails else json.loads(proc.stdout or "{}")


def berth_admin(node: BerthNode, *args: str) -> dict:
    proc = subprocess.run([str(BERTH), "admin", *args, "--endpoint-url", node.url],
                          env=_env(admin_key(node.data_dir)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _other_account(node: BerthNode) -> tuple[str, AccessKey]:
    """Account B with a user whose identity policy allows every ECR action."""
    account = berth_admin(node, "accounts", "create", "team-b")["Account"]["AccountId"]
    berth_admin(node, "users", "create", "--account", account, "puller")
    berth_admin(node, "policies", "put", "--account", account, "--user", "puller",
                "--name", "ecr", "--document", json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}))
    key = berth_admin(node, "access-keys", "create", "--account", account, "--user", "puller")
    return account, AccessKey(key["AccessKey"]["AccessKeyId"],
                              key["AccessKey"]["SecretAccessKey"])


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _pull(skopeo: Skopeo, node: BerthNode, dest: Path) -> subprocess.CompletedProcess:
    host = node.url.removeprefix("http://")
    return skopeo("copy", "--src-tls-verify=false", f"docker://{host}/{REPOSITORY}:v1",
                  f"oci:{dest}:v1", check=False)


def _assert_denied(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode != 0, f"the pull succeeded:\n{proc.stdout}"
    assert any(word in proc.stderr.lower() for word in DENIED), proc.stderr


def test_a_repository_policy_grants_another_account_pull(node: BerthNode, tmp_path: Path):
    admin = admin_key(node.data_dir)
    owner = aws(node, admin, "describe-registry")["registryId"]
    host = node.url.removeprefix("http://")
    pusher = Skopeo(_directory(tmp_path / "admin-skopeo"))
    pusher.login(host, node.token)
    image = build_image([{"hello.txt": b"shared across accounts\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"latest": image.manifest})
    pusher.copy(f"oci:{layout.path}:latest", f"docker://{host}/{REPOSITORY}:v1")

    other, key = _other_account(node)
    puller = Skopeo(_directory(tmp_path / "b-skopeo"))
    puller.login(host, get_login_password(node.url, key))
    _assert_denied(_pull(puller, node, tmp_path / "before"))
    assert "AccessDeniedException" in aws(node, key, "get-repository-policy", "--registry-id",
                                          owner, "--repository-name", REPOSITORY, fails=True)

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamBPulls", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": PULL}]})
    done = aws(node, admin, "set-repository-policy", "--repository-name", REPOSITORY,
               "--policy-text", policy)
    assert done == {"registryId": owner, "repositoryName": REPOSITORY, "policyText": policy}
    proc = _pull(puller, node, tmp_path / "granted")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "granted" / "index.json").exists()

    deleted = aws(node, admin, "delete-repository-policy", "--repository-name", REPOSITORY)
    assert deleted["policyText"] == policy
    _assert_denied(_pull(puller, node, tmp_path / "after"))  # at once: no restart, no wait
    assert "RepositoryPolicyNotFoundException" in aws(
        node, admin, "get-repository-policy", "--repository-name", REPOSITORY, fails=True)


def test_a_malformed_policy_is_refused_with_where(node: BerthNode, tmp_path: Path):
    admin = admin_key(node.data_dir)
    host = node.url.removeprefix("http://")
    skopeo = Skopeo(tmp_path)
    skopeo.login(host, node.token)
    image = build_image([{"a.txt": b"a\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"latest": image.manifest})
    skopeo.copy(f"oci:{layout.path}:latest", f"docker://{host}/{REPOSITORY}:v1")
    error = aws(node, admin, "set-repository-policy", "--repository-name", REPOSITORY,
                "--policy-text", json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": PULL}]}), fails=True)
    assert "InvalidParameterException" in error
    assert "Statement[0]: needs a Principal" in error
