"""docker (Debian's 20.10 client and a private dockerd): import/build, push, rmi, pull, cross-repository mounts."""
from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import media_types as mt
from tests.support.dockerd import Dockerd
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import RegistryServer
from tests.support.tarballs import make_tar, read_tar_files

pytestmark = pytest.mark.e2e

PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


AUTH_ERRORS = ("no basic auth credentials", "unauthorized", "authentication required")


@pytest.fixture
def docker_login(dockerd: Dockerd, registry: RegistryServer) -> Iterator[None]:
    """`docker login -u AWS --password-stdin` with the registry token for the test, `docker logout` after it."""
    if registry.token is None:
        yield
        return
    dockerd.login(registry.host, registry.token)
    assert registry.host in dockerd.logins(), f"docker login stored no credentials for {registry.host}"
    try:
        yield
    finally:
        dockerd.logout(registry.host, check=False)


def assert_auth_error(proc, what: str) -> None:
    assert proc.returncode != 0, f"{what} succeeded without valid credentials:\n{proc.stdout}"
    err = proc.stderr.lower()
    assert any(e in err for e in AUTH_ERRORS), f"{what}: not an authentication error:\n{proc.stderr}"


def push(dockerd: Dockerd, ref: str) -> tuple[str, str]:
    """docker push; returns (manifest digest it reports, full output)."""
    out = dockerd.docker("push", ref).stdout
    match = PUSH_DIGEST.search(out)
    assert match, f"no digest in docker push output:\n{out}"
    return match.group(1), out


def image_id(dockerd: Dockerd, ref: str) -> str:
    return dockerd.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def assert_not_local(dockerd: Dockerd, ref: str) -> None:
    proc = dockerd.docker("image", "inspect", ref, check=False)
    assert proc.returncode != 0, f"{ref} is still in the local image store"


def saved_files(dockerd: Dockerd, ref: str, tmp_path: Path) -> dict[str, bytes]:
    """All regular files in the image's layers, read from `docker save` (no container needed)."""
    archive = tmp_path / "saved.tar"
    dockerd.docker("save", "-o", str(archive), ref)
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        assert len(manifest) == 1, manifest
        for layer_path in manifest[0]["Layers"]:
            files.update(read_tar_files(outer.extractfile(layer_path).read()))
    return files


def test_import_push_rmi_pull(dockerd: Dockerd, docker_login: None, registry: RegistryServer,
                              registry_api: RegistryAPI, tmp_path: Path):
    repo = "team-a/docker-import"
    files = {"hello.txt": b"imported by docker\n", "etc/config.ini": b"[berth]\nmode=e2e\n"}
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar(files))
    ref = registry.ref(repo, "1")

    original_id = dockerd.docker("import", "--change", 'CMD ["/hello"]', str(tarball), ref).stdout.strip()
    assert original_id.startswith("sha256:")
    digest, _ = push(dockerd, ref)

    raw, served_digest, manifest = registry_api.manifest(repo, "1")
    assert served_digest == digest
    assert manifest["mediaType"] == mt.DOCKER_MANIFEST
    assert manifest["config"]["digest"] == original_id
    assert read_tar_files(registry_api.blob(repo, manifest["layers"][0]["digest"])) == files

    dockerd.docker("rmi", ref)
    assert_not_local(dockerd, ref)
    dockerd.docker("pull", registry.ref(repo, digest))
    assert image_id(dockerd, registry.ref(repo, digest)) == original_id
    dockerd.docker("pull", ref)
    assert image_id(dockerd, ref) == original_id
    repo_digests = json.loads(dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
    assert f"{registry.host}/{repo}@{digest}" in repo_digests
    assert saved_files(dockerd, ref, tmp_path) == files
    dockerd.docker("rmi", "--force", original_id)


def test_multilayer_build_push_and_cross_repo_mount(dockerd: Dockerd, docker_login: None, registry: RegistryServer,
                                                    registry_api: RegistryAPI, tmp_path: Path):
    source_repo, mounted_repo = "team-a/docker-layers", "team-b/docker-layers-copy"
    ctx = tmp_path / "ctx"
    (ctx / "b").mkdir(parents=True)
    (ctx / "a.txt").write_bytes(b"layer one\n")
    (ctx / "b" / "b.txt").write_bytes(b"layer two\n")
    (ctx / "c.bin").write_bytes(bytes(range(256)) * 100)
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY b /b/\nCOPY c.bin /c.bin\n"
        'LABEL org.example.test="berth-e2e"\nCMD ["/a"]\n'
    )
    expected = {"a.txt": b"layer one\n", "b/b.txt": b"layer two\n", "c.bin": bytes(range(256)) * 100}
    ref_a, ref_b = registry.ref(source_repo, "v1"), registry.ref(mounted_repo, "v1")

    dockerd.docker("build", "--no-cache", "-t", ref_a, str(ctx), timeout=300)
    built_id = image_id(dockerd, ref_a)
    digest_a, _ = push(dockerd, ref_a)
    _, _, manifest_a = registry_api.manifest(source_repo, "v1")
    layers = [layer["digest"] for layer in manifest_a["layers"]]
    assert len(layers) == 3, manifest_a
    assert {layer["mediaType"] for layer in manifest_a["layers"]} == {mt.DOCKER_LAYER_GZIP}

    dockerd.docker("tag", ref_a, ref_b)
    digest_b, out_b = push(dockerd, ref_b)
    assert digest_b == digest_a
    mounted = re.findall(rf"Mounted from {re.escape(source_repo)}", out_b)
    assert len(mounted) == 3, f"expected all 3 layers cross-repository mounted, push output:\n{out_b}"
    _, _, manifest_b = registry_api.manifest(mounted_repo, "v1")
    assert [layer["digest"] for layer in manifest_b["layers"]] == layers
    for digest in layers:
        assert registry_api.blob(mounted_repo, digest) == registry_api.blob(source_repo, digest)

    dockerd.docker("rmi", ref_a, ref_b)
    assert_not_local(dockerd, ref_b)
    dockerd.docker("pull", ref_b)
    assert image_id(dockerd, ref_b) == built_id
    assert saved_files(dockerd, ref_b, tmp_path) == expected
    dockerd.docker("rmi", "--force", built_id)


def test_docker_needs_login(dockerd: Dockerd, registry: RegistryServer, registry_api: RegistryAPI, tmp_path: Path):
    """Push and pull are refused before `docker login`, with a bogus token, and after `docker logout`."""
    if not registry.requires_auth:
        pytest.skip(f"{registry.target} runs without authentication")
    repo = "team-a/docker-login"
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"login.txt": b"only for the logged in\n"}))
    ref = registry.ref(repo, "1")
    original_id = dockerd.docker("import", str(tarball), ref).stdout.strip()
    assert registry.host not in dockerd.logins()
    assert_auth_error(dockerd.docker("push", ref, check=False), "docker push before docker login")
    assert registry_api.get_manifest(repo, "1").status_code == 404

    wrong = dockerd.login(registry.host, "not-a-token", check=False)
    assert wrong.returncode != 0, f"docker login accepted a bogus token:\n{wrong.stdout}"
    assert registry.host not in dockerd.logins()

    dockerd.login(registry.host, registry.token)
    try:
        digest, _ = push(dockerd, ref)
        assert registry_api.manifest(repo, "1")[1] == digest
        dockerd.docker("rmi", ref)
    finally:
        dockerd.logout(registry.host)
    assert registry.host not in dockerd.logins()
    assert_auth_error(dockerd.docker("pull", ref, check=False), "docker pull after docker logout")
    assert_not_local(dockerd, ref)

    dockerd.login(registry.host, registry.token)
    try:
        dockerd.docker("pull", ref)
        assert image_id(dockerd, ref) == original_id
    finally:
        dockerd.logout(registry.host)
    dockerd.docker("rmi", "--force", original_id)
