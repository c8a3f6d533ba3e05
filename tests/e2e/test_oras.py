"""oras-py: artifacts with custom media types, and referrers (manifests with a `subject`) plus the referrers API."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import oras.client
import oras.defaults
import oras.oci
import pytest

from tests.support import media_types as mt
from tests.support.oci_layout import sha256_digest
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import RegistryServer

pytestmark = pytest.mark.e2e

REPO = "team-a/artifacts"
ARTIFACT_CONFIG_TYPE = "application/vnd.berth.e2e.bundle.config.v1+json"
SBOM_TYPE = "application/vnd.berth.e2e.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.berth.e2e.signature.v1"
TITLE = oras.defaults.annotation_title

FILES = {
    "notes.txt": ("text/plain", b"an artifact pushed by oras-py\n"),
    "payload.bin": ("application/vnd.berth.e2e.payload.v1", bytes(range(256)) * 33),
}


@dataclass
class Pushed:
    digest: str
    size: int
    manifest: dict
    oci_subject: str | None = None  # OCI-Subject header of the manifest PUT response


def client(registry: RegistryServer, auth_config: Path, password: str | None = None) -> oras.client.OrasClient:
    """An oras-py client logged in (``login``: credentials into the docker-style ``auth_config`` file and the
    client) with the registry token, or ``password`` instead. Berth challenges with HTTP Basic, which oras-py
    answers with its "basic" auth backend (its default "token" backend only knows Bearer token servers)."""
    oc = oras.client.OrasClient(hostname=registry.host, insecure=True, auth_backend="basic")
    password = password if password is not None else registry.token
    if password is not None:
        status = oc.login(username=registry.username, password=password, hostname=registry.host,
                          config_path=str(auth_config))
        assert status.get("Status") == "Login Succeeded", status
    return oc


@pytest.fixture(scope="module")
def oras_auth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """oras-py's auth file (docker config.json format), kept away from ~/.docker."""
    return tmp_path_factory.mktemp("oras-auth") / "config.json"


def pushed_manifest(registry_api: RegistryAPI, repo: str, ref: str) -> Pushed:
    raw, digest, manifest = registry_api.manifest(repo, ref, accept=mt.OCI_MANIFEST)
    return Pushed(digest, len(raw), manifest)


@pytest.fixture(scope="module")
def artifact(registry: RegistryServer, registry_api: RegistryAPI, oras_auth: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    src = tmp_path_factory.mktemp("oras-src")
    for name, (_, data) in FILES.items():
        (src / name).write_bytes(data)
    (src / "config.json").write_text(json.dumps({"bundle": "berth-e2e"}))
    files = [f"{src / name}:{media_type}" for name, (media_type, _) in FILES.items()]
    resp = client(registry, oras_auth).push(
        target=registry.ref(REPO, "bundle-1"),
        config_path=str(oras_auth),
        files=files,
        disable_path_validation=True,
        manifest_config=f"{src / 'config.json'}:{ARTIFACT_CONFIG_TYPE}",
        manifest_annotations={"org.example.purpose": "e2e"},
        quiet=True,
    )
    assert resp.status_code == 201, f"manifest PUT -> {resp.status_code} {resp.text}"
    pushed = pushed_manifest(registry_api, REPO, "bundle-1")
    assert resp.headers.get("Docker-Content-Digest") in (None, pushed.digest)
    return pushed


def test_push_artifact_with_custom_media_types(artifact: Pushed, registry_api: RegistryAPI):
    manifest = artifact.manifest
    assert manifest["mediaType"] == mt.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == ARTIFACT_CONFIG_TYPE
    assert json.loads(registry_api.blob(REPO, manifest["config"]["digest"])) == {"bundle": "berth-e2e"}
    assert manifest["annotations"] == {"org.example.purpose": "e2e"}
    layers = {layer["annotations"][TITLE]: layer for layer in manifest["layers"]}
    assert set(layers) == set(FILES)
    for name, (media_type, data) in FILES.items():
        assert layers[name]["mediaType"] == media_type
        assert layers[name]["digest"] == sha256_digest(data)
        assert layers[name]["size"] == len(data)
        assert registry_api.blob(REPO, layers[name]["digest"]) == data


def test_pull_artifact_round_trips_bytes(artifact: Pushed, registry: RegistryServer, oras_auth: Path, tmp_path: Path):
    oc = client(registry, oras_auth)
    paths = oc.pull(target=registry.ref(REPO, "bundle-1"), config_path=str(oras_auth), outdir=str(tmp_path / "out"))
    assert sorted(Path(p).name for p in paths) == sorted(FILES)
    for name, (_, data) in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    by_digest = oc.get_manifest(registry.ref(REPO, artifact.digest))
    assert by_digest == artifact.manifest
    assert "bundle-1" in oc.get_tags(registry.ref(REPO, "bundle-1"))


def test_oras_needs_login(artifact: Pushed, registry: RegistryServer, tmp_path: Path):
    """A bogus token and `logout` leave oras-py refused; its login (credentials from its auth file) lets it in."""
    if not registry.requires_auth:
        pytest.skip(f"{registry.target} runs without authentication")
    target = registry.ref(REPO, "bundle-1")
    bogus = client(registry, tmp_path / "bogus.json", password="not-a-token")
    with pytest.raises(ValueError, match="Unauthorized"):
        bogus.get_manifest(target)
    with pytest.raises(ValueError, match="Unauthorized"):
        bogus.pull(target=target, config_path=str(tmp_path / "bogus.json"), outdir=str(tmp_path / "bogus-out"))

    auth_file = tmp_path / "config.json"
    oc = client(registry, auth_file)
    assert registry.host in json.loads(auth_file.read_text())["auths"]
    assert oc.get_manifest(target) == artifact.manifest
    # A new client, with nothing but the auth file `login` wrote:
    fresh = oras.client.OrasClient(hostname=registry.host, insecure=True, auth_backend="basic")
    paths = fresh.pull(target=target, config_path=str(auth_file), outdir=str(tmp_path / "out"))
    assert sorted(Path(p).name for p in paths) == sorted(FILES)
    oc.logout(registry.host)
    with pytest.raises(ValueError, match="Unauthorized"):
        oc.get_manifest(target)


@pytest.fixture(scope="module")
def referrers(artifact: Pushed, registry: RegistryServer, registry_api: RegistryAPI, oras_auth: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pushed]:
    """Two referrers of the artifact: one via oras-py's push(subject=...), one with an explicit artifactType."""
    src = tmp_path_factory.mktemp("oras-referrers")
    oc = client(registry, oras_auth)
    subject = oras.oci.Subject(mediaType=mt.OCI_MANIFEST, digest=artifact.digest, size=artifact.size)
    out: dict[str, Pushed] = {}

    # 1. oras-py's high-level push: artifactType is implied by the config media type.
    (src / "sbom.json").write_text(json.dumps({"packages": ["berth"]}))
    (src / "sbom-config.json").write_text("{}")
    resp = oc.push(target=registry.ref(REPO, "sbom"), config_path=str(oras_auth), files=[f"{src / 'sbom.json'}:application/spdx+json"],
                   disable_path_validation=True, subject=subject,
                   manifest_config=f"{src / 'sbom-config.json'}:{SBOM_TYPE}",
                   manifest_annotations={"org.example.kind": "sbom"}, quiet=True)
    assert resp.status_code == 201, f"manifest PUT -> {resp.status_code} {resp.text}"
    out["sbom"] = pushed_manifest(registry_api, REPO, "sbom")
    out["sbom"].oci_subject = resp.headers.get("OCI-Subject")

    # 2. Lower-level calls: OCI 1.1 style (empty config, explicit artifactType), pushed by digest, untagged.
    container = oc.get_container(registry.ref(REPO, "unused"))
    (src / "empty.json").write_text("{}")
    empty = {"mediaType": mt.OCI_EMPTY, "digest": sha256_digest(b"{}"), "size": 2}
    assert oc.upload_blob(str(src / "empty.json"), container, empty).status_code in (200, 201)
    sig = b"signature-bytes-for-e2e"
    (src / "sig").write_bytes(sig)
    layer = {"mediaType": SIGNATURE_TYPE, "digest": sha256_digest(sig), "size": len(sig)}
    assert oc.upload_blob(str(src / "sig"), container, layer).status_code in (200, 201)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": SIGNATURE_TYPE,
        "config": empty,
        "layers": [layer],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": artifact.digest, "size": artifact.size},
        "annotations": {"org.example.kind": "signature", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    digest = sha256_digest(json.dumps(manifest).encode())  # what requests sends for json=manifest
    resp = oc.upload_manifest(manifest, oc.get_container(registry.ref(REPO, digest)))
    assert resp.status_code == 201, f"manifest PUT -> {resp.status_code} {resp.text}"
    out["signature"] = pushed_manifest(registry_api, REPO, digest)
    out["signature"].oci_subject = resp.headers.get("OCI-Subject")
    return out


def test_referrer_manifests_are_stored(referrers: dict[str, Pushed], artifact: Pushed):
    for name, pushed in referrers.items():
        assert pushed.manifest["subject"]["digest"] == artifact.digest, name
    assert referrers["sbom"].manifest["config"]["mediaType"] == SBOM_TYPE
    assert referrers["signature"].manifest["artifactType"] == SIGNATURE_TYPE


def require_referrers_api(registry: RegistryServer) -> None:
    if not registry.supports_referrers:
        pytest.skip("CNCF Distribution 2.8 predates the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest>)")


def expected_descriptor(pushed: Pushed, artifact_type: str) -> dict:
    return {
        "mediaType": mt.OCI_MANIFEST,
        "digest": pushed.digest,
        "size": pushed.size,
        "artifactType": artifact_type,
        "annotations": pushed.manifest["annotations"],
    }


def assert_descriptor(found: dict, expected: dict) -> None:
    """The referrer descriptor carries (at least) exactly these fields; extra fields are allowed by the spec."""
    assert {key: found.get(key) for key in expected} == expected


def referrers_index(registry_api: RegistryAPI, digest: str, artifact_type: str | None = None):
    resp = registry_api.referrers(REPO, digest, artifact_type)
    assert resp.status_code == 200, f"GET referrers -> {resp.status_code} {resp.text[:500]}"
    assert resp.headers["Content-Type"].split(";")[0] == mt.OCI_INDEX
    index = resp.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == mt.OCI_INDEX
    return resp, {d["digest"]: d for d in index["manifests"]}


def test_manifest_put_with_subject_returns_oci_subject_header(referrers: dict[str, Pushed], artifact: Pushed,
                                                             registry: RegistryServer):
    require_referrers_api(registry)
    for name, pushed in referrers.items():
        assert pushed.oci_subject == artifact.digest, name


def test_referrers_lists_all_referrers(referrers: dict[str, Pushed], artifact: Pushed, registry: RegistryServer,
                                       registry_api: RegistryAPI):
    require_referrers_api(registry)
    _, found = referrers_index(registry_api, artifact.digest)
    assert set(found) == {p.digest for p in referrers.values()}
    assert_descriptor(found[referrers["sbom"].digest], expected_descriptor(referrers["sbom"], SBOM_TYPE))
    assert_descriptor(found[referrers["signature"].digest],
                      expected_descriptor(referrers["signature"], SIGNATURE_TYPE))


def test_referrers_filtered_by_artifact_type(referrers: dict[str, Pushed], artifact: Pushed,
                                             registry: RegistryServer, registry_api: RegistryAPI):
    require_referrers_api(registry)
    everything = {p.digest for p in referrers.values()}
    signature = referrers["signature"]
    for artifact_type, wanted in ((SIGNATURE_TYPE, {signature.digest}), ("application/vnd.berth.e2e.nothing", set())):
        resp, found = referrers_index(registry_api, artifact.digest, artifact_type)
        applied = [f.strip() for f in resp.headers.get("OCI-Filters-Applied", "").split(",")]
        if "artifactType" in applied:
            assert set(found) == wanted, f"filtered by {artifact_type}"
            for digest in found:
                assert_descriptor(found[digest], expected_descriptor(signature, SIGNATURE_TYPE))
        else:  # filtering is optional (MAY), but then the registry must return the full, unfiltered list
            assert set(found) == everything, f"unfiltered response to ?artifactType={artifact_type}"


def test_referrers_of_manifest_without_referrers_is_empty(referrers: dict[str, Pushed], registry: RegistryServer,
                                                          registry_api: RegistryAPI):
    require_referrers_api(registry)
    _, found = referrers_index(registry_api, referrers["signature"].digest)
    assert found == {}
