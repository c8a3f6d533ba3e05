"""The ECR login flow, literally: ``aws ecr get-login-password | <client> login --username AWS
--password-stdin <host>`` for docker, podman, skopeo and buildah, then a push and a pull; and the
same flow failing once the token has expired (a server configured with a 6-second lifetime)."""
from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.berth_node import BerthNode
from tests.support.containers_storage import ContainersStorage
from tests.support.credentials import AccessKey, admin_key
from tests.support.daemon import Daemon
from tests.support.dockerd import Dockerd
from tests.support.ecr_login import aws_cli
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

SHORT_LIFETIME = 6
AUTH_ERRORS = ("unauthorized", "authentication required", "no basic auth credentials",
               "invalid username/password")


@dataclass
class Server:
    url: str
    host: str
    key: AccessKey
    daemon: Daemon

    def login_pipe(self, client_login: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        """``aws ecr get-login-password ... | <client_login>`` in a shell, as users type it."""
        aws = (f"{shlex.quote(aws_cli())} ecr get-login-password --region us-east-1 "
               f"--endpoint-url {self.url}")
        return subprocess.run(["bash", "-o", "pipefail", "-c", f"{aws} | {client_login}"],
                              env={**_clean_env(), **self.key.env(), **env},
                              capture_output=True, text=True, timeout=180)


def _clean_env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _start(workdir: Path, env: dict[str, str] | None = None) -> Server:
    node = BerthNode(workdir, env=env).start()
    return Server(node.url, f"127.0.0.1:{node.port}", admin_key(node.data_dir), node.daemon)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    found = _start(tmp_path_factory.mktemp("login"))
    yield found
    found.daemon.stop()


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory) -> Iterator[Server]:
    found = _start(tmp_path_factory.mktemp("login-short"),
                   {"BERTH_TOKEN_LIFETIME_SECONDS": str(SHORT_LIFETIME)})
    yield found
    found.daemon.stop()


def _assert_ok(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout}\n{proc.stderr}"


def _assert_auth_error(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode != 0, f"{what} succeeded with an expired token:\n{proc.stdout}"
    assert any(e in proc.stderr.lower() for e in AUTH_ERRORS), \
        f"{what}: not an authentication error:\n{proc.stderr}"


def _layout(path: Path, text: bytes) -> OciLayout:
    image = build_image([{"hello.txt": text}])
    return OciLayout(path).write(image.blobs, {"latest": image.manifest})


def _wait_for_expiry(server: Server, logged_in: float) -> None:
    """Until the clock passes the token's end: it was minted before the login finished at
    ``logged_in`` (the server checks expiry on every request)."""
    remaining = logged_in + SHORT_LIFETIME + 0.5 - time.time()
    if remaining > 0:
        time.sleep(remaining)


# -- skopeo --------------------------------------------------------------------------------
def _skopeo_round_trip(server: Server, skopeo: Skopeo, tmp_path: Path, repo: str) -> None:
    layout = _layout(tmp_path / "layout", b"skopeo via the ECR login\n")
    skopeo.copy(f"oci:{layout.path}:latest", f"docker://{server.host}/{repo}:v1")
    skopeo.copy(f"docker://{server.host}/{repo}:v1", f"oci:{tmp_path / 'back'}:v1")
    assert (tmp_path / "back" / "index.json").exists()


def test_skopeo(server: Server, tmp_path: Path):
    skopeo = Skopeo(tmp_path)
    proc = server.login_pipe(f"skopeo login --tls-verify=false --username AWS --password-stdin "
                             f"{server.host}", skopeo.env)
    _assert_ok(proc, "aws ecr get-login-password | skopeo login")
    _skopeo_round_trip(server, skopeo, tmp_path, "login/skopeo")


def test_skopeo_with_an_expired_token(short_lived: Server, tmp_path: Path):
    skopeo = Skopeo(tmp_path)
    _assert_ok(short_lived.login_pipe(
        f"skopeo login --tls-verify=false --username AWS --password-stdin {short_lived.host}",
        skopeo.env), "skopeo login")
    issued = time.time()
    _skopeo_round_trip(short_lived, skopeo, tmp_path / "fresh", "login/skopeo")
    _wait_for_expiry(short_lived, issued)
    layout = _layout(tmp_path / "late", b"too late\n")
    _assert_auth_error(skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:latest",
                              f"docker://{short_lived.host}/login/skopeo:v2", check=False),
                       "skopeo copy after expiry")


# -- buildah and podman --------------------------------------------------------------------
def _buildah_image(store: ContainersStorage, tmp_path: Path, name: str) -> str:
    (tmp_path / "hello.txt").write_bytes(b"buildah via the ECR login\n")
    ctr = store.buildah("from", "scratch").stdout.strip().splitlines()[-1]
    store.buildah("copy", ctr, str(tmp_path / "hello.txt"), "/hello.txt")
    store.buildah("commit", "--format", "oci", ctr, name)
    return name


@pytest.mark.parametrize("tool", ["buildah", "podman"])
def test_buildah_and_podman(server: Server, containers_storage, tmp_path: Path, tool: str):
    store = containers_storage(tool)
    proc = server.login_pipe(f"{tool} login --tls-verify=false --username AWS --password-stdin "
                             f"{server.host}", store.env)
    _assert_ok(proc, f"aws ecr get-login-password | {tool} login")
    local = _buildah_image(store, tmp_path, f"localhost/login/{tool}:v1")
    remote = f"{server.host}/login/{tool}:v1"
    run = store.buildah if tool == "buildah" else store.podman
    run("push", "--tls-verify=false", local, f"docker://{remote}")
    run("rmi", local)
    run("pull", "--tls-verify=false", f"docker://{remote}")


@pytest.mark.parametrize("tool", ["buildah", "podman"])
def test_buildah_and_podman_with_an_expired_token(short_lived: Server, containers_storage,
                                                  tmp_path: Path, tool: str):
    store = containers_storage(f"{tool}-late")
    local = _buildah_image(store, tmp_path, f"localhost/late/{tool}:v1")
    _assert_ok(short_lived.login_pipe(
        f"{tool} login --tls-verify=false --username AWS --password-stdin {short_lived.host}",
        store.env), f"{tool} login")
    issued = time.time()
    _wait_for_expiry(short_lived, issued)
    run = store.buildah if tool == "buildah" else store.podman
    _assert_auth_error(run("push", "--tls-verify=false", local,
                           f"docker://{short_lived.host}/late/{tool}:v1", check=False),
                       f"{tool} push after expiry")


# -- docker --------------------------------------------------------------------------------
def _docker_login(server: Server, dockerd: Dockerd) -> subprocess.CompletedProcess:
    return server.login_pipe(f"/usr/bin/docker login --username AWS --password-stdin "
                             f"{server.host}", dockerd.env)


def test_docker(server: Server, dockerd: Dockerd, tmp_path: Path):
    _assert_ok(_docker_login(server, dockerd), "aws ecr get-login-password | docker login")
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"hello.txt": b"docker via the ECR login\n"}))
    ref = f"{server.host}/login/docker:v1"
    dockerd.docker("import", str(tarball), ref)
    dockerd.docker("push", ref)
    dockerd.docker("rmi", ref)
    dockerd.docker("pull", ref)
    dockerd.docker("logout", server.host)


def test_docker_with_an_expired_token(short_lived: Server, dockerd: Dockerd, tmp_path: Path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"late.txt": b"too late\n"}))
    ref = f"{short_lived.host}/late/docker:v1"
    dockerd.docker("import", str(tarball), ref)
    _assert_ok(_docker_login(short_lived, dockerd), "docker login")
    issued = time.time()
    _wait_for_expiry(short_lived, issued)
    try:
        _assert_auth_error(dockerd.docker("push", ref, check=False), "docker push after expiry")
    finally:
        dockerd.docker("logout", short_lived.host, check=False)
