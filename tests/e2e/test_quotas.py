"""Service quotas met by real clients: an operator lowers a tenant account's
ImagesPerRepository with ``berth admin quotas put`` (online); the tenant's docker push of a
first image works, a second image is refused and docker shows Berth's message; dropping the
override lets the push through. The tenant cannot raise its own quota. A skopeo copy past a
repository's storage quota is refused the same way, before the blob is linked."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.berth_node import BerthNode
from tests.support.dockerd import Dockerd
from tests.support.ecr_login import aws_cli
from tests.support.operator_cli import admin_env, aws_env, berth_admin, run
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

def test_a_docker_push_past_the_image_quota_is_refused(tmp_path, dockerd: Dockerd):
    node = BerthNode(tmp_path / "node").start()
    try:
        account = berth_admin(node, "accounts", "create", "tenant")["Account"]["AccountId"]
        berth_admin(node, "users", "create", "--account", account, "ci")
        berth_admin(node, "policies", "put", "--account", account, "--user", "ci", "--name", "all",
               "--document", json.dumps({"Version": "2012-10-17", "Statement": [{
                   "Effect": "Allow", "Action": ["ecr:*", "berth:*"], "Resource": "*"}]}))
        key = berth_admin(node, "access-keys", "create", "--account", account, "--user",
                     "ci")["AccessKey"]
        tenant = aws_env(AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                      AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        berth_admin(node, "quotas", "put", "--account", account, "ImagesPerRepository", "1")
        own = berth_admin(node, "quotas", "put", "--account", account, "ImagesPerRepository",
                     "100", ok=False, env=tenant)
        assert own.returncode != 0 and "AccessDenied" in own.stderr
        run(aws_cli(), "ecr", "create-repository", "--repository-name", "q/app",
             "--endpoint-url", node.url, env=tenant)
        host = f"127.0.0.1:{node.port}"
        login = subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"{aws_cli()} ecr get-login-password "
             f"--endpoint-url {node.url} | /usr/bin/docker login --username AWS "
             f"--password-stdin {host}"],
            env={**tenant, **dockerd.env}, capture_output=True, text=True, timeout=180)
        assert login.returncode == 0, login.stderr
        try:
            for tag, ok in (("v1", True), ("v2", False)):
                tarball = tmp_path / f"{tag}.tar"
                tarball.write_bytes(make_tar({"version.txt": tag.encode()}))
                dockerd.docker("import", str(tarball), f"{host}/q/app:{tag}")
                pushed = dockerd.docker("push", f"{host}/q/app:{tag}", check=ok)
            assert pushed.returncode != 0
            assert "has reached its image quota (1 images)" in pushed.stderr, pushed.stderr
            berth_admin(node, "quotas", "delete", "--account", account, "ImagesPerRepository")
            dockerd.docker("push", f"{host}/q/app:v2")
        finally:
            dockerd.docker("logout", host, check=False)
    finally:
        node.stop()


def test_a_skopeo_copy_past_the_storage_quota_is_refused(tmp_path):
    node = BerthNode(tmp_path / "node").start()
    try:
        account = berth_admin(node, "accounts", "list")["Accounts"][0]["AccountId"]
        berth_admin(node, "quotas", "put", "--account", account, "StorageBytesPerRepository",
               "60000")
        password = run(aws_cli(), "ecr", "get-login-password", "--endpoint-url", node.url,
                        env=admin_env(node)).stdout.strip()
        skopeo = Skopeo(tmp_path)
        for name, size, ok in (("small", 20_000, True), ("large", 80_000, False)):
            image = build_image([{"data.bin": os.urandom(size)}])
            layout = OciLayout(tmp_path / name).write(image.blobs, {"latest": image.manifest})
            copied = skopeo("copy", "--dest-tls-verify=false", "--dest-creds",
                            f"AWS:{password}", f"oci:{layout.path}:latest",
                            f"docker://127.0.0.1:{node.port}/stored/app:{name}", check=ok)
        assert copied.returncode != 0
        assert "past its storage quota of 60000 bytes" in copied.stderr, copied.stderr
    finally:
        node.stop()
