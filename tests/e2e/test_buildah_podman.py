"""buildah builds and pushes an image from scratch; podman pulls it into fresh stores and pushes it onward."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.containers_storage import BUILDAH, PODMAN, ContainersStorage
from tests.support.procs import require_binary
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import RegistryServer
from tests.support.tarballs import read_tar_files

pytestmark = pytest.mark.e2e

REPO = "team-a/buildah-hello"
NESTED_REPO = "team-a/sub/app"
HELLO = b"hello from buildah, via berth\n"
DATA = bytes(range(256)) * 40

StorageFactory = Callable[[str], ContainersStorage]


@dataclass
class BuiltImage:
    image_id: str  # hex sha256 of the config, as buildah/podman report it
    manifest_digest: str
    ref: str


def login(store: ContainersStorage, tool: str, registry: RegistryServer) -> None:
    """`buildah login` / `podman login` with the registry token (no-op for a registry without authentication)."""
    if registry.token is None:
        return
    store.login(tool, registry.host, registry.token)
    assert registry.host in store.logins(), f"{tool} login wrote no credentials for {registry.host}"


def assert_auth_error(proc, what: str) -> None:
    assert proc.returncode != 0, f"{what} succeeded without valid credentials:\n{proc.stdout}"
    err = proc.stderr.lower()
    assert "authentication required" in err or "unauthorized" in err, f"{what}: not an authentication error:\n{proc.stderr}"


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "expected output, got none"
    return lines[-1].strip()


@pytest.fixture(scope="module")
def buildah_pushed(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    """buildah from scratch + copy + config + commit, then push to REPO:1."""
    require_binary(BUILDAH)
    store = ContainersStorage(tmp_path_factory.mktemp("buildah-store"))
    src = tmp_path_factory.mktemp("buildah-src")
    (src / "hello.txt").write_bytes(HELLO)
    (src / "data.bin").write_bytes(DATA)
    try:
        ctr = last_line(store.buildah("from", "scratch").stdout)
        store.buildah("copy", ctr, str(src / "hello.txt"), "/hello.txt")
        store.buildah("copy", ctr, str(src / "data.bin"), "/opt/data.bin")
        store.buildah("config", "--cmd", '["/hello"]', "--label", "berth.e2e=buildah", ctr)
        image_id = last_line(store.buildah("commit", "--format", "oci", ctr, "localhost/berth-e2e/hello:1").stdout)
        digest_file = src / "digest"
        ref = registry.ref(REPO, "1")
        if registry.requires_auth:
            refused = store.buildah("push", "--tls-verify=false", "localhost/berth-e2e/hello:1", f"docker://{ref}",
                                    check=False)
            assert_auth_error(refused, "buildah push before buildah login")
        login(store, "buildah", registry)
        store.buildah("push", "--tls-verify=false", "--digestfile", str(digest_file),
                      "localhost/berth-e2e/hello:1", f"docker://{ref}")
        yield BuiltImage(image_id, digest_file.read_text().strip(), ref)
    finally:
        store.cleanup()


def assert_image_files(store: ContainersStorage, ref: str) -> None:
    """Mount the image read-only (vfs: just its directory) and compare the files buildah copied in."""
    mountpoint = Path(last_line(store.podman("image", "mount", ref).stdout))
    try:
        assert (mountpoint / "hello.txt").read_bytes() == HELLO
        assert (mountpoint / "opt" / "data.bin").read_bytes() == DATA
    finally:
        store.podman("image", "unmount", ref)


def test_buildah_push_stores_manifest_config_and_layer(buildah_pushed: BuiltImage, registry_api: RegistryAPI):
    _, digest, manifest = registry_api.manifest(REPO, "1")
    assert digest == buildah_pushed.manifest_digest
    assert manifest["config"]["digest"] == f"sha256:{buildah_pushed.image_id}"
    config = json.loads(registry_api.blob(REPO, manifest["config"]["digest"]))
    assert config["config"]["Cmd"] == ["/hello"]
    assert config["config"]["Labels"]["berth.e2e"] == "buildah"
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        files.update(read_tar_files(registry_api.blob(REPO, layer["digest"])))
    assert files.get("hello.txt") == HELLO
    assert files.get("opt/data.bin") == DATA


def test_podman_pull_into_fresh_store(buildah_pushed: BuiltImage, registry: RegistryServer,
                                     containers_storage: StorageFactory):
    require_binary(PODMAN)
    store = containers_storage("podman-pull")
    login(store, "podman", registry)
    pulled_id = last_line(store.podman("pull", "--tls-verify=false", buildah_pushed.ref).stdout)
    assert pulled_id == buildah_pushed.image_id
    info = json.loads(store.podman("image", "inspect", buildah_pushed.ref).stdout)[0]
    assert info["Digest"] == buildah_pushed.manifest_digest
    assert info["Config"]["Cmd"] == ["/hello"]
    assert_image_files(store, buildah_pushed.ref)


def test_podman_push_to_nested_namespace(buildah_pushed: BuiltImage, registry: RegistryServer,
                                         registry_api: RegistryAPI, containers_storage: StorageFactory,
                                         tmp_path: Path):
    require_binary(PODMAN)
    relay = containers_storage("podman-relay")
    login(relay, "podman", registry)
    relay.podman("pull", "--tls-verify=false", buildah_pushed.ref)
    nested_ref = registry.ref(NESTED_REPO, "2")
    digest_file = tmp_path / "digest"
    relay.podman("push", "--tls-verify=false", "--digestfile", str(digest_file), buildah_pushed.ref,
                 f"docker://{nested_ref}")
    pushed_digest = digest_file.read_text().strip()

    assert "2" in registry_api.tags(NESTED_REPO)
    _, digest, manifest = registry_api.manifest(NESTED_REPO, "2")
    assert digest == pushed_digest
    assert manifest["config"]["digest"] == f"sha256:{buildah_pushed.image_id}"
    for desc in (manifest["config"], *manifest["layers"]):
        assert registry_api.head_blob(NESTED_REPO, desc["digest"]).status_code == 200

    fresh = containers_storage("podman-nested")
    login(fresh, "podman", registry)
    by_digest = registry.ref(NESTED_REPO, pushed_digest)
    assert last_line(fresh.podman("pull", "--tls-verify=false", by_digest).stdout) == buildah_pushed.image_id
    assert_image_files(fresh, by_digest)


def test_podman_needs_login(buildah_pushed: BuiltImage, registry: RegistryServer,
                            containers_storage: StorageFactory):
    """Without credentials, with a bogus token and after `podman logout`, pulls are refused."""
    require_binary(PODMAN)
    if not registry.requires_auth:
        pytest.skip(f"{registry.target} runs without authentication")
    store = containers_storage("podman-login")
    assert store.logins() == {}
    assert_auth_error(store.podman("pull", "--tls-verify=false", buildah_pushed.ref, check=False),
                      "podman pull with an empty auth file")

    wrong = store.login("podman", registry.host, "not-a-token", check=False)
    assert wrong.returncode != 0, f"podman login accepted a bogus token:\n{wrong.stdout}"
    assert registry.host not in store.logins()

    login(store, "podman", registry)
    assert last_line(store.podman("pull", "--tls-verify=false", buildah_pushed.ref).stdout) == buildah_pushed.image_id
    store.podman("rmi", buildah_pushed.ref)

    store.logout("podman", registry.host)
    assert registry.host not in store.logins()
    assert_auth_error(store.podman("pull", "--tls-verify=false", buildah_pushed.ref, check=False),
                      "podman pull after podman logout")
