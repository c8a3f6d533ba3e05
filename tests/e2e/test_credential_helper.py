"""``docker-credential-berth`` driven by the real clients: docker through ``credHelpers`` in
its ``config.json``, skopeo and podman through ``credHelpers`` in containers' ``auth.json``, with no
``login`` at all; and a pull after the helper's first token expired (the server here mints
tokens that last LIFETIME seconds), which works because the helper mints a new one.

The helper is the console script in the virtualenv's bin directory, put on the PATH of the
client process (which runs it); its AWS credentials are the administrator key in the
environment (boto3's default chain), and its cache a file of the test's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.containers_storage import PODMAN, ContainersStorage
from tests.support.credentials import AccessKey, admin_key
from tests.support.dockerd import DOCKER, Dockerd
from tests.support.log_watch import LOGS
from tests.support.oci_layout import OciLayout, build_image
from tests.support.procs import require_binary
from tests.support.skopeo import SKOPEO
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

LIFETIME = 15  # seconds: the helper hands a cached token out for the first half of it
HELPER = Path(sys.executable).parent / "docker-credential-berth"
AUTH_ERRORS = ("no basic auth credentials", "unauthorized", "authentication required")


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[BerthNode]:
    require_binary(str(HELPER))  # `pip install -e .` makes it
    started = BerthNode(tmp_path_factory.mktemp("credential-helper"),
                        env={"BERTH_TOKEN_LIFETIME_SECONDS": str(LIFETIME)}).start()
    LOGS.add("berth (credential helper)", started.daemon.log_path)
    try:
        yield started
    finally:
        started.stop()
        LOGS.remove("berth (credential helper)")


def host_of(node: BerthNode) -> str:
    return f"127.0.0.1:{node.port}"


def helper_env(cache: Path, key: AccessKey | None) -> dict[str, str]:
    """The machine's environment without its AWS or Berth settings, the helper on PATH, the
    key (None: no credentials anywhere in the chain) and the test's cache file."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_", "DOCKER_"))}
    creds = key.env() if key else {"AWS_CONFIG_FILE": "/dev/null",
                                   "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                   "AWS_EC2_METADATA_DISABLED": "true"}
    return {**base, **creds, "PATH": f"{HELPER.parent}{os.pathsep}{base.get('PATH', '')}",
            "BERTH_CREDENTIAL_CACHE": str(cache)}


def run(argv: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
                    pytrace=False)
    return proc


def cached(cache: Path, host: str, key: AccessKey) -> dict:
    """The helper's cache entry for ``host`` and ``key``."""
    entries = json.loads(cache.read_text())["entries"]
    assert host in entries and key.id in entries[host], f"no cached token for {host}: {entries}"
    return entries[host][key.id]


def assert_token_works(node: BerthNode, secret: str, works: bool = True) -> None:
    status = requests.get(f"{node.url}/v2/", auth=("AWS", secret), timeout=30).status_code
    assert status == (200 if works else 401), status


class DockerClient:
    """The docker CLI of ``dockerd`` with a config dir whose ``credHelpers`` names berth."""

    def __init__(self, dockerd: Dockerd, node: BerthNode, workdir: Path, key: AccessKey | None):
        self.config = workdir / "docker-config"
        self.config.mkdir()
        self.config_json = self.config / "config.json"
        self.config_json.write_text(json.dumps({"credHelpers": {host_of(node): "berth"}}))
        self.cache = workdir / "cache.json"
        self.env = {**helper_env(self.cache, key), **dockerd.env, "DOCKER_CONFIG": str(self.config)}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([DOCKER, *args], self.env, check)

    def import_image(self, tmp_path: Path, ref: str, text: bytes) -> None:
        tarball = tmp_path / "rootfs.tar"
        tarball.write_bytes(make_tar({"hello.txt": text}))
        self("import", str(tarball), ref)


def test_docker_pushes_and_pulls_with_the_helper(node, dockerd, tmp_path):
    key = admin_key(node.data_dir)
    docker = DockerClient(dockerd, node, tmp_path, key)
    ref = f"{host_of(node)}/helper/docker:v1"
    docker.import_image(tmp_path, ref, b"docker with docker-credential-berth\n")
    docker("push", ref)
    docker("rmi", ref)
    docker("pull", ref)
    assert docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    entry = cached(docker.cache, host_of(node), key)
    assert_token_works(node, entry["secret"])
    assert "auths" not in json.loads(docker.config_json.read_text())  # nothing was stored
    docker("logout", host_of(node))  # erases the cached token
    assert host_of(node) not in json.loads(docker.cache.read_text())["entries"]


def test_docker_without_aws_credentials_gets_not_found(node, dockerd, tmp_path):
    """The helper's "not found" is the answer docker recognises: it goes on without
    credentials (and the registry refuses), rather than failing to get credentials."""
    docker = DockerClient(dockerd, node, tmp_path, None)
    ref = f"{host_of(node)}/helper/anonymous:v1"
    docker.import_image(tmp_path, ref, b"nobody\n")
    proc = docker("push", ref, check=False)
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.lower()
    assert "error getting credentials" not in err, proc.stderr
    assert any(e in err for e in AUTH_ERRORS), proc.stderr
    assert not docker.cache.exists()


def test_skopeo_copies_with_the_helper(node, tmp_path):
    require_binary(SKOPEO)
    key = admin_key(node.data_dir)
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"credHelpers": {host_of(node): "berth"}}))
    env = {**helper_env(tmp_path / "cache.json", key), "REGISTRY_AUTH_FILE": str(auth_file)}
    image = build_image([{"hello.txt": b"skopeo with docker-credential-berth\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"latest": image.manifest})
    remote = f"docker://{host_of(node)}/helper/skopeo:v1"
    skopeo = [SKOPEO, "--insecure-policy", "copy", "--src-tls-verify=false",
              "--dest-tls-verify=false"]
    run([*skopeo, f"oci:{layout.path}:latest", remote], env)
    run([*skopeo, remote, f"oci:{tmp_path / 'back'}:v1"], env)
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest.digest
    assert_token_works(node, cached(tmp_path / "cache.json", host_of(node), key)["secret"])
    assert "auths" not in json.loads(auth_file.read_text())


def test_podman_pulls_with_the_helper(node, tmp_path):
    require_binary(PODMAN)
    key = admin_key(node.data_dir)
    image = build_image([{"hello.txt": b"podman with docker-credential-berth\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"latest": image.manifest})
    remote = f"{host_of(node)}/helper/podman:v1"
    env = helper_env(tmp_path / "cache.json", key)
    store = ContainersStorage(tmp_path / "store")
    store.auth_file.write_text(json.dumps({"credHelpers": {host_of(node): "berth"}}))
    env["REGISTRY_AUTH_FILE"] = str(store.auth_file)
    try:
        run([SKOPEO, "--insecure-policy", "copy", "--dest-tls-verify=false",
             f"oci:{layout.path}:latest", f"docker://{remote}"], env)
        pulled = store.podman("pull", "--tls-verify=false", remote, env=env, check=False)
        assert pulled.returncode == 0, pulled.stderr
        assert image.manifest.digest in store.podman(
            "images", "--digests", "--format", "{{.Digest}}", env=env).stdout
        assert "auths" not in json.loads(store.auth_file.read_text())
        assert_token_works(node, cached(tmp_path / "cache.json", host_of(node), key)["secret"])
    finally:
        store.cleanup()


def test_a_pull_after_the_token_expired_mints_another(node, dockerd, tmp_path):
    key = admin_key(node.data_dir)
    docker = DockerClient(dockerd, node, tmp_path, key)
    ref = f"{host_of(node)}/helper/expiry:v1"
    docker.import_image(tmp_path, ref, b"outlives its first token\n")
    docker("push", ref)
    first = cached(docker.cache, host_of(node), key)
    docker("rmi", ref)
    remaining = first["expiresAt"] + 0.5 - time.time()
    assert 0 < remaining <= LIFETIME + 1, first["expiresAt"]  # the server's short lifetime
    time.sleep(remaining)
    assert_token_works(node, first["secret"], works=False)  # it really expired
    docker("pull", ref)
    second = cached(docker.cache, host_of(node), key)
    assert second["secret"] != first["secret"]
    assert second["expiresAt"] > first["expiresAt"]
    assert_token_works(node, second["secret"])
