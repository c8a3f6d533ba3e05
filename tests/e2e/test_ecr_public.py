"""ECR Public end to end, with real clients: the aws CLI's ``ecr-public`` commands create a
repository with catalog data and hand docker its login password (``get-login-password``);
docker pushes to ``<host>:<public port>/<alias>/<repository>``; a docker with no credentials
at all pulls the image back, podman pulls it and skopeo inspects it anonymously, all through
ECR Public's token flow. Then the gallery, in Chromium: found by a search, its page shows the tag with its
platform and size and the pull command, and the publisher's markup runs nothing."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.support.berth_node import BerthNode
from tests.support.browser import browser_page, screenshot
from tests.support.dockerd import Dockerd
from tests.support.ecr_login import aws_cli
from tests.support.operator_cli import admin_env, run
from tests.support.ports import free_port
from tests.support.skopeo import SKOPEO
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e


def _aws(node, *args: str) -> dict:
    proc = run(aws_cli(), "ecr-public", *args, "--endpoint-url", node.url, "--region",
               "us-east-1", "--output", "json", env=admin_env(node))
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_docker_pushes_with_credentials_and_anyone_pulls(tmp_path, dockerd: Dockerd,
                                                        containers_storage):
    public_port = free_port()
    node = BerthNode(tmp_path / "node", extra_args=("--public-port", str(public_port))).start()
    try:
        made = _aws(node, "create-repository", "--repository-name", "tools/hello",
                    "--catalog-data", json.dumps({
                        "description": "Says hello <img src=x onerror=alert('description')>",
                        "aboutText": "# Hello\n\n<script>alert('about')</script>\n\n"
                                     "[docs](javascript:alert('link'))",
                        "operatingSystems": ["Linux"], "architectures": ["x86-64"]}))
        uri = made["repository"]["repositoryUri"]
        registry = _aws(node, "describe-registries")["registries"][0]
        alias = registry["aliases"][0]["name"]
        host = f"127.0.0.1:{public_port}"
        assert uri == f"{host}/{alias}/tools/hello"
        assert registry["registryUri"] == f"{host}/{alias}"

        password = run(aws_cli(), "ecr-public", "get-login-password", "--endpoint-url",
                       node.url, "--region", "us-east-1", env=admin_env(node)).stdout.strip()
        dockerd.login(host, password)
        tarball = tmp_path / "hello.tar"
        tarball.write_bytes(make_tar({"hello.txt": b"hello from the public registry\n"}))
        dockerd.docker("import", str(tarball), f"{uri}:v1")
        dockerd.docker("push", f"{uri}:v1")
        tags = _aws(node, "describe-image-tags", "--repository-name", "tools/hello")
        assert [t["imageTag"] for t in tags["imageTagDetails"]] == ["v1"]
        digest = tags["imageTagDetails"][0]["imageDetail"]["imageDigest"]

        # Nobody signed in: the client's credentials are gone, the image is not local.
        dockerd.logout(host)
        dockerd.docker("rmi", f"{uri}:v1")
        assert host not in dockerd.logins()
        dockerd.docker("pull", f"{uri}:v1")
        inspected = json.loads(dockerd.docker("image", "inspect", f"{uri}:v1").stdout)
        assert any(d.endswith(digest) for d in inspected[0]["RepoDigests"])

        auth_file = tmp_path / "no-auth.json"
        auth_file.write_text("{}")
        proc = run(SKOPEO, "inspect", "--tls-verify=false", "--authfile", str(auth_file),
                   f"docker://{uri}:v1", env=dict(os.environ))
        assert json.loads(proc.stdout)["Digest"] == digest

        store = containers_storage("public-podman")  # its own, empty auth file
        store.podman("pull", "--tls-verify=false", f"{uri}:v1")
        pulled = json.loads(store.podman("image", "inspect", f"{uri}:v1").stdout)
        assert pulled[0]["Digest"] == digest

        # And an anonymous push is refused.
        dockerd.docker("tag", f"{uri}:v1", f"{uri}:v2")
        refused = dockerd.docker("push", f"{uri}:v2", check=False)
        assert refused.returncode != 0
        tags = _aws(node, "describe-image-tags", "--repository-name", "tools/hello")
        assert [t["imageTag"] for t in tags["imageTagDetails"]] == ["v1"]

        _gallery_shows(node, alias, uri, digest)
    finally:
        node.stop()
        shutil.rmtree(tmp_path / "node", ignore_errors=True)


def _gallery_shows(node, alias: str, uri: str, digest: str) -> None:
    with browser_page() as (page, dialogs):
        page.goto(f"{node.url}/gallery")
        page.fill("input[name=q]", "hello")
        page.click("button[type=submit]")
        screenshot(page, "gallery-search")
        assert page.inner_text("#count") == "1 repository"
        page.click(f"text={alias}/tools/hello")
        page.wait_for_selector("#tags")
        screenshot(page, "gallery-repository")
        assert page.inner_text("h1") == "tools/hello"
        assert page.inner_text("#pull") == f"docker pull {uri}:v1"
        row = page.inner_text("#tags tr:nth-child(2)")
        assert row.startswith("v1") and "linux/amd64" in row and digest[:19] in row
        assert "<script>" in page.inner_text("#about")  # shown as text, not run
        assert page.eval_on_selector_all("#about a", "links => links.length") == 0
        page.click(f"text={alias}")
        screenshot(page, "gallery-registry")
        assert "tools/hello" in page.inner_text("main")
        assert dialogs == []  # no publisher's script ran anywhere
