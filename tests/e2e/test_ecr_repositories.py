"""Repositories the ECR way against ``berth serve``: the aws CLI creates, describes, tags,
reconfigures and deletes them; skopeo pushes into them, meeting tag immutability and the
registry's create-on-push setting as a registry client sees them."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.credentials import admin_key
from tests.support.ecr_login import aws_cli
from tests.support.oci_layout import OciLayout, build_image
from tests.support.registry_server import RegistryServer, start_registry
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e
REGION = "us-east-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RegistryServer]:
    # Berth's own server whatever the e2e target: these are ECR operations.
    found = start_registry(tmp_path_factory.mktemp("ecr-repositories"), "berth")
    yield found
    found.stop()


@pytest.fixture(scope="module")
def skopeo(server: RegistryServer, tmp_path_factory) -> Skopeo:
    client = Skopeo(tmp_path_factory.mktemp("skopeo-ecr-repositories"))
    client.login(server.host, server.token)
    return client


def aws(server: RegistryServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**admin_key(server.data_dir).env(REGION), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", server.url,
                           "--output", "json"], env=env, capture_output=True, text=True,
                          timeout=120)
    if check:
        assert proc.returncode == 0, f"aws ecr {' '.join(args)}:\n{proc.stderr}"
    return proc


def aws_json(server: RegistryServer, *args: str) -> dict:
    out = aws(server, *args).stdout
    return json.loads(out) if out.strip() else {}


def push(skopeo: Skopeo, server: RegistryServer, tmp_path: Path, ref: str, text: bytes,
         check: bool = True) -> subprocess.CompletedProcess:
    layout_dir = tmp_path / f"layout-{abs(hash((ref, text)))}"
    image = build_image([{"file.txt": text}])
    layout = OciLayout(layout_dir).write(image.blobs, {"latest": image.manifest})
    return skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:latest",
                  f"docker://{server.host}/{ref}", check=check)


def test_repository_lifecycle_with_the_aws_cli(server, skopeo, tmp_path):
    made = aws_json(server, "create-repository", "--repository-name", "cli/app",
                    "--image-scanning-configuration", "scanOnPush=true",
                    "--tags", "Key=team,Value=blue")["repository"]
    # The caller's own registry, reached at a plain host: the URI is that host's, as pushed to.
    assert made["repositoryUri"] == f"{server.host}/cli/app"
    assert made["imageTagMutability"] == "MUTABLE"
    failed = aws(server, "create-repository", "--repository-name", "cli/app", check=False)
    assert failed.returncode != 0 and "RepositoryAlreadyExistsException" in failed.stderr
    [described] = aws_json(server, "describe-repositories",
                           "--repository-names", "cli/app")["repositories"]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    arn = made["repositoryArn"]
    aws(server, "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=prod")
    aws(server, "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
    assert aws_json(server, "list-tags-for-resource", "--resource-arn", arn)["tags"] == [
        {"Key": "env", "Value": "prod"}]
    push(skopeo, server, tmp_path, "cli/app:v1", b"one\n")
    refused = aws(server, "delete-repository", "--repository-name", "cli/app", check=False)
    assert refused.returncode != 0 and "RepositoryNotEmptyException" in refused.stderr
    aws(server, "delete-repository", "--repository-name", "cli/app", "--force")
    gone = aws(server, "describe-repositories", "--repository-names", "cli/app", check=False)
    assert gone.returncode != 0 and "RepositoryNotFoundException" in gone.stderr


def test_the_cli_paginates_describe_repositories(server):
    for i in range(4):
        aws(server, "create-repository", "--repository-name", f"pages/r{i}")
    listed = aws_json(server, "describe-repositories", "--page-size", "1")["repositories"]
    names = [r["repositoryName"] for r in listed]
    assert [n for n in names if n.startswith("pages/")] == [f"pages/r{i}" for i in range(4)]


def test_an_immutable_tag_refuses_a_push_of_another_image(server, skopeo, tmp_path):
    aws(server, "create-repository", "--repository-name", "imm/app",
        "--image-tag-mutability", "IMMUTABLE_WITH_EXCLUSION",
        "--image-tag-mutability-exclusion-filters", "filterType=WILDCARD,filter=latest")
    push(skopeo, server, tmp_path, "imm/app:v1", b"one\n")
    push(skopeo, server, tmp_path, "imm/app:v1", b"one\n")  # the same image: allowed
    refused = push(skopeo, server, tmp_path, "imm/app:v1", b"two\n", check=False)
    assert refused.returncode != 0
    assert "cannot be overwritten because the repository is immutable" in refused.stderr
    push(skopeo, server, tmp_path, "imm/app:latest", b"one\n")
    push(skopeo, server, tmp_path, "imm/app:latest", b"two\n")  # excluded: mutable
    aws(server, "put-image-tag-mutability", "--repository-name", "imm/app",
        "--image-tag-mutability", "MUTABLE")
    push(skopeo, server, tmp_path, "imm/app:v1", b"two\n")


def test_create_on_push_follows_the_creation_templates(server, skopeo, tmp_path):
    """The first start's ROOT template lets the administrator's pushes create; without it no
    push does; a template for a prefix gives the repositories pushes make its settings."""
    aws(server, "delete-repository-creation-template", "--prefix", "ROOT")
    try:
        aws(server, "create-repository", "--repository-name", "cop/existing")
        refused = push(skopeo, server, tmp_path, "cop/new:v1", b"one\n", check=False)
        assert refused.returncode != 0
        assert "The repository with name 'cop/new' does not exist" in refused.stderr
        push(skopeo, server, tmp_path, "cop/existing:v1", b"one\n")
        aws(server, "create-repository-creation-template", "--prefix", "cop",
            "--applied-for", "CREATE_ON_PUSH", "--image-tag-mutability", "IMMUTABLE",
            "--resource-tags", "Key=made-by,Value=push")
        push(skopeo, server, tmp_path, "cop/new:v1", b"one\n")
        made = aws_json(server, "describe-repositories", "--repository-names",
                        "cop/new")["repositories"][0]
        assert made["imageTagMutability"] == "IMMUTABLE"
        assert aws_json(server, "list-tags-for-resource", "--resource-arn",
                        made["repositoryArn"])["tags"] == [{"Key": "made-by", "Value": "push"}]
        refused = push(skopeo, server, tmp_path, "elsewhere/new:v1", b"one\n", check=False)
        assert refused.returncode != 0  # the template covers cop/ only
    finally:
        aws(server, "create-repository-creation-template", "--prefix", "ROOT",
            "--applied-for", "CREATE_ON_PUSH", check=False)
