"""skopeo: OCI layout <-> registry copies, inspect, list-tags, delete, multi-arch indexes, Docker schema 2."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.support import media_types as mt
from tests.support.oci_layout import Image, OciLayout, build_image, build_index, sha256_digest
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import RegistryServer
from tests.support.skopeo import Skopeo
from tests.support.tarballs import read_tar_files

pytestmark = pytest.mark.e2e

REPO = "team-a/web"
TAGS = ("v1", "v1.0")


def web_image_files() -> list[dict[str, bytes]]:
    return [
        {"srv/index.html": b"<h1>berth e2e</h1>\n", "etc/motd": b"welcome\n"},
        {"srv/app.bin": bytes(range(256)) * 64},
    ]


@pytest.fixture(scope="module")
def web_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, OciLayout]:
    image = build_image(web_image_files())
    layout = OciLayout(tmp_path_factory.mktemp("web-layout")).write(image.blobs, {t: image.manifest for t in TAGS})
    return image, layout


@pytest.fixture(scope="module")
def pushed_web(web_image, registry: RegistryServer, skopeo: Skopeo) -> Image:
    image, layout = web_image
    for tag in TAGS:
        skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://{registry.ref(REPO, tag)}", "--preserve-digests")
    return image


def require_auth(registry: RegistryServer) -> None:
    if not registry.requires_auth:
        pytest.skip(f"{registry.target} runs without authentication")


def assert_auth_error(proc, what: str) -> None:
    """A skopeo command failed, and because the registry refused its credentials (or their absence)."""
    assert proc.returncode != 0, f"{what} succeeded without valid credentials:\n{proc.stdout}"
    err = proc.stderr.lower()
    assert "authentication required" in err or "unauthorized" in err, f"{what}: not an authentication error:\n{proc.stderr}"


def test_unauthenticated_http_is_refused(pushed_web: Image, registry: RegistryServer, registry_api: RegistryAPI):
    require_auth(registry)
    for url in (f"{registry.url}/v2/", f"{registry.url}/v2/{REPO}/manifests/v1",
                f"{registry.url}/v2/{REPO}/blobs/{pushed_web.config.digest}", f"{registry.url}/v2/{REPO}/tags/list"):
        for auth in (None, ("AWS", "not-a-token"), ("AWS", "")):
            resp = requests.get(url, auth=auth, timeout=30)
            assert resp.status_code == 401, f"GET {url} with auth {auth} -> {resp.status_code}"
            assert resp.headers["WWW-Authenticate"].startswith("Basic realm="), resp.headers
            assert [e["code"] for e in resp.json()["errors"]] == ["UNAUTHORIZED"]
    assert requests.get(f"{registry.url}/v2/", auth=registry.auth, timeout=30).status_code == 200
    assert registry_api.get_manifest(REPO, "v1").status_code == 200


def test_skopeo_needs_login(pushed_web: Image, registry: RegistryServer, tmp_path: Path):
    require_auth(registry)
    ref = f"docker://{registry.ref(REPO, 'v1')}"
    anonymous = Skopeo(tmp_path)
    assert anonymous.logins() == {}
    assert_auth_error(anonymous("inspect", "--tls-verify=false", ref, check=False), "inspect with an empty auth file")
    assert_auth_error(anonymous("list-tags", "--tls-verify=false", f"docker://{registry.host}/{REPO}", check=False),
                      "list-tags with an empty auth file")

    wrong = anonymous.login(registry.host, "not-a-token", check=False)
    assert wrong.returncode != 0, f"skopeo login accepted a bogus token:\n{wrong.stdout}"
    assert registry.host not in anonymous.logins()

    anonymous.login(registry.host, registry.token)
    assert registry.host in anonymous.logins()
    assert anonymous.inspect(ref)["Digest"] == pushed_web.manifest.digest

    anonymous.logout(registry.host)
    assert registry.host not in anonymous.logins()
    assert_auth_error(anonymous("inspect", "--tls-verify=false", ref, check=False), "inspect after skopeo logout")


def test_copy_stores_manifest_and_blobs_unchanged(pushed_web: Image, registry_api: RegistryAPI):
    for tag in TAGS:
        raw, digest, _ = registry_api.manifest(REPO, tag)
        assert raw == pushed_web.manifest.data
        assert digest == pushed_web.manifest.digest
    resp = registry_api.get_manifest(REPO, pushed_web.manifest.digest, accept=mt.OCI_MANIFEST)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].split(";")[0] == mt.OCI_MANIFEST
    for blob in (pushed_web.config, *pushed_web.layers):
        assert registry_api.blob(REPO, blob.digest) == blob.data


def test_inspect_reports_digest_layers_and_config(pushed_web: Image, registry: RegistryServer, skopeo: Skopeo):
    ref = f"docker://{registry.ref(REPO, 'v1')}"
    info = skopeo.inspect(ref)
    assert info["Digest"] == pushed_web.manifest.digest
    assert info["Layers"] == [layer.digest for layer in pushed_web.layers]
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux")
    assert info["Labels"] == {"berth.e2e": "true"}
    assert skopeo.inspect_raw(ref) == pushed_web.manifest.data
    assert skopeo.inspect_raw(ref, "--config") == pushed_web.config.data
    by_digest = skopeo.inspect(f"docker://{registry.ref(REPO, pushed_web.manifest.digest)}")
    assert by_digest["Digest"] == pushed_web.manifest.digest


def test_list_tags(pushed_web: Image, registry: RegistryServer, skopeo: Skopeo):
    tags = skopeo.list_tags(f"docker://{registry.host}/{REPO}")
    assert set(TAGS) <= set(tags), tags


def test_copy_back_to_oci_layout_round_trips_bytes(pushed_web: Image, registry: RegistryServer, skopeo: Skopeo,
                                                  tmp_path: Path):
    out = OciLayout(tmp_path / "out")
    skopeo.copy(f"docker://{registry.ref(REPO, 'v1')}", f"oci:{out.path}:copied", "--preserve-digests")
    desc = out.ref("copied")
    assert desc["digest"] == pushed_web.manifest.digest
    assert out.blob(desc["digest"]) == pushed_web.manifest.data
    assert out.blob(pushed_web.config.digest) == pushed_web.config.data
    for layer, files in zip(pushed_web.layers, pushed_web.layer_files):
        data = out.blob(layer.digest)
        assert data == layer.data
        assert read_tar_files(data) == files


def test_delete_removes_manifest(registry: RegistryServer, registry_api: RegistryAPI, skopeo: Skopeo, tmp_path: Path):
    repo = "team-a/web-delete"
    image = build_image([{"gone.txt": b"soon deleted\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"doomed": image.manifest})
    skopeo.copy(f"oci:{layout.path}:doomed", f"docker://{registry.ref(repo, 'doomed')}", "--preserve-digests")
    assert registry_api.get_manifest(repo, image.manifest.digest).status_code == 200

    skopeo.delete(f"docker://{registry.ref(repo, 'doomed')}")

    assert registry_api.get_manifest(repo, image.manifest.digest).status_code == 404
    assert registry_api.get_manifest(repo, "doomed").status_code == 404
    assert registry_api.head_manifest(repo, image.manifest.digest).status_code == 404
    gone = skopeo("inspect", "--tls-verify=false", f"docker://{registry.ref(repo, 'doomed')}", check=False)
    assert gone.returncode != 0, f"skopeo inspect still found the deleted image:\n{gone.stdout}"


def test_multi_arch_index_round_trip(registry: RegistryServer, registry_api: RegistryAPI, skopeo: Skopeo,
                                     tmp_path: Path):
    repo = "team-a/multi"
    amd = build_image([{"arch.txt": b"amd64\n"}], architecture="amd64")
    arm = build_image([{"arch.txt": b"arm64\n"}, {"extra/arm.txt": b"only on arm\n"}], architecture="arm64")
    index = build_index([amd, arm])
    layout = OciLayout(tmp_path / "src").write([*amd.blobs, *arm.blobs], {"multi": index})
    ref = f"docker://{registry.ref(repo, 'multi')}"

    skopeo.copy(f"oci:{layout.path}:multi", ref, "--all", "--preserve-digests")

    assert skopeo.inspect_raw(ref) == index.data
    raw, digest, _ = registry_api.manifest(repo, "multi")
    assert (raw, digest) == (index.data, index.digest)
    for image in (amd, arm):
        assert registry_api.manifest(repo, image.manifest.digest)[0] == image.manifest.data
    arm_info = skopeo.inspect(ref, "--override-arch", "arm64", "--override-os", "linux")
    assert arm_info["Architecture"] == "arm64"
    assert arm_info["Layers"] == [layer.digest for layer in arm.layers]

    out = OciLayout(tmp_path / "out")
    skopeo.copy(ref, f"oci:{out.path}:multi", "--all", "--preserve-digests")
    assert out.ref("multi")["digest"] == index.digest
    for blob in (*amd.blobs, *arm.blobs, index):
        assert out.blob(blob.digest) == blob.data

    single = OciLayout(tmp_path / "arm-only")
    skopeo.copy(ref, f"oci:{single.path}:arm", "--override-arch", "arm64", "--override-os", "linux",
                "--preserve-digests")
    assert single.ref("arm")["digest"] == arm.manifest.digest
    assert read_tar_files(single.blob(arm.layers[1].digest)) == {"extra/arm.txt": b"only on arm\n"}


def test_docker_schema2_format(registry: RegistryServer, registry_api: RegistryAPI, skopeo: Skopeo, tmp_path: Path):
    repo = "team-a/docker-format"
    image = build_image([{"docker.txt": b"schema 2\n"}, {"more/data.txt": b"x" * 5000}])
    layout = OciLayout(tmp_path / "src").write(image.blobs, {"s2": image.manifest})
    ref = f"docker://{registry.ref(repo, 's2')}"

    skopeo.copy(f"oci:{layout.path}:s2", ref, "--format", "v2s2")

    raw = skopeo.inspect_raw(ref)
    resp = registry_api.get_manifest(repo, "s2", accept=mt.DOCKER_MANIFEST)
    assert resp.status_code == 200
    assert resp.content == raw
    assert resp.headers["Content-Type"].split(";")[0] == mt.DOCKER_MANIFEST
    assert resp.headers.get("Docker-Content-Digest") == sha256_digest(raw)
    manifest = resp.json()
    assert manifest["mediaType"] == mt.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [mt.DOCKER_LAYER_GZIP] * 2
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in image.layers]
    assert registry_api.blob(repo, manifest["config"]["digest"]) == image.config.data
    head = registry_api.head_manifest(repo, sha256_digest(raw), accept=mt.DOCKER_MANIFEST)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(raw)
    assert skopeo.inspect(ref)["Digest"] == sha256_digest(raw)

    out = tmp_path / "dir-out"
    skopeo.copy(ref, f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == raw
    for layer, files in zip(image.layers, image.layer_files):
        data = (out / layer.digest.split(":", 1)[1]).read_bytes()
        assert data == layer.data
        assert read_tar_files(data) == files
