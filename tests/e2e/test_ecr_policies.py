"""Repository policies as ECR users manage them: the aws CLI against ``berth serve`` sets a
policy granting another account pull, that account's user pulls with skopeo (logged in the ECR
way, at the registry's host name: a plain host would be its own registry), and deleting the
policy takes the access away at once."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.berth_node import BerthNode
from tests.support.berth_server import running_node
from tests.support.credentials import AccessKey, admin_key
from tests.support.ecr_login import get_login_password
from tests.support.host_proxy import HostProxy
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo
from tests.support.tenants import aws, new_account

pytestmark = pytest.mark.e2e

REPOSITORY = "shared/app"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
DENIED = ("denied", "unauthorized", "not authorized", "forbidden")


@pytest.fixture
def node(tmp_path):
    with running_node(tmp_path) as node:
        yield node


def _other_account(node: BerthNode) -> tuple[str, AccessKey]:
    """Account B with a user whose identity policy allows every ECR action."""
    return new_account(node, "team-b", "puller")


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _pull(skopeo: Skopeo, host: str, dest: Path) -> subprocess.CompletedProcess:
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
    with HostProxy(node.port) as proxy:
        _pull_across(node, owner, other, key, proxy, tmp_path)


def _pull_across(node: BerthNode, owner: str, other: str, key: AccessKey, proxy: HostProxy,
                 tmp_path: Path) -> None:
    """B pulls from the owner's registry, named by its host name (through the proxy: skopeo
    does not resolve *.localhost), before, with and after the policy granting it."""
    admin = admin_key(node.data_dir)
    registry = f"{owner}.dkr.ecr.us-east-1.localhost:{node.port}"
    puller = Skopeo(_directory(tmp_path / "b-skopeo"), env=proxy.env)
    puller.login(registry, get_login_password(node.url, key))
    _assert_denied(_pull(puller, registry, tmp_path / "before"))
    assert "AccessDeniedException" in aws(node, key, "get-repository-policy", "--registry-id",
                                          owner, "--repository-name", REPOSITORY, fails=True)

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamBPulls", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": PULL}]})
    done = aws(node, admin, "set-repository-policy", "--repository-name", REPOSITORY,
               "--policy-text", policy)
    assert done == {"registryId": owner, "repositoryName": REPOSITORY, "policyText": policy}
    proc = _pull(puller, registry, tmp_path / "granted")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "granted" / "index.json").exists()

    deleted = aws(node, admin, "delete-repository-policy", "--repository-name", REPOSITORY)
    assert deleted["policyText"] == policy
    _assert_denied(_pull(puller, registry, tmp_path / "after"))  # at once: no restart, no wait
    assert "RepositoryPolicyNotFoundException" in aws(
        node, admin, "get-repository-policy", "--repository-name", REPOSITORY, fails=True)


def test_a_malformed_policy_is_refused_in_ecrs_words(node: BerthNode, tmp_path: Path):
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
    # ECR's text, no more (Terraform's AWS provider matches on it); what and where: the log's.
    assert ("An error occurred (InvalidParameterException) when calling the SetRepositoryPolicy "
            "operation: Invalid parameter at 'PolicyText' failed to satisfy constraint: "
            "'Invalid repository policy provided'\n") in error
    assert "Statement[0]: needs a Principal" in node.log_text()
