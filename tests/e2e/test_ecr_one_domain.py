"""One source of truth: the OCI door (docker, skopeo, plain HTTP) and the ECR door (boto3) see
the same images, sizes, push and pull times, tag immutability, deletions and repository
creation rules, on a real server."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from botocore.exceptions import ClientError

from tests.support import media_types as mt
from tests.support.berth_server import ecr_client, ecr_key, put_image
from tests.support.dockerd import Dockerd
from tests.support.oci_layout import OciLayout, build_image
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import RegistryServer
from tests.support.skopeo import Skopeo
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ecr(registry, e2e_target):
    return ecr_client(registry.url, ecr_key(registry, e2e_target))


@pytest.fixture
def docker_login(dockerd: Dockerd, registry: RegistryServer) -> Iterator[Dockerd]:
    dockerd.login(registry.host, registry.token)
    try:
        yield dockerd
    finally:
        dockerd.logout(registry.host, check=False)


def _docker_image(dockerd: Dockerd, ref: str, files: dict[str, bytes], tmp_path: Path) -> None:
    tarball = tmp_path / f"rootfs-{abs(hash(ref))}-{len(files)}.tar"
    tarball.write_bytes(make_tar(files))
    dockerd.docker("import", "--change", 'CMD ["/hello"]', str(tarball), ref)


def _error_code(call) -> str:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    raise AssertionError("the call succeeded")


def _stored_size(api: RegistryAPI, repo: str, ref: str) -> tuple[str, int]:
    """(digest, manifest + config + layers) as the registry serves them, blob sizes from HEAD."""
    raw, digest, manifest = api.manifest(repo, ref)
    total = len(raw)
    for descriptor in (manifest["config"], *manifest["layers"]):
        head = api.head_blob(repo, descriptor["digest"])
        assert head.status_code == 200, head.text
        assert int(head.headers["Content-Length"]) == descriptor["size"]
        total += descriptor["size"]
    return digest, total


def _detail(ecr, repo: str, **image_id) -> dict:
    [detail] = ecr.describe_images(repositoryName=repo, imageIds=[image_id])["imageDetails"]
    return detail


def test_a_docker_push_is_described_with_its_stored_size_and_push_time(
        registry, registry_api, docker_login, ecr, tmp_path):
    repo = "one-domain/docker"
    ecr.create_repository(repositoryName=repo)
    ref = registry.ref(repo, "v1")
    _docker_image(docker_login, ref, {"hello.txt": b"pushed by docker\n", "big.bin": bytes(5000)},
                  tmp_path)
    before = time.time()
    docker_login.docker("push", ref)
    after = time.time()
    digest, size = _stored_size(registry_api, repo, "v1")
    detail = _detail(ecr, repo, imageTag="v1")
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageManifestMediaType"] == mt.DOCKER_MANIFEST
    assert detail["imageSizeInBytes"] == size
    assert before - 1 <= detail["imagePushedAt"].timestamp() <= after + 1
    listed = ecr.list_images(repositoryName=repo)["imageIds"]
    assert listed == [{"imageDigest": digest, "imageTag": "v1"}]


def test_put_image_is_pulled_by_skopeo_and_a_pull_records_its_time(
        registry, skopeo: Skopeo, ecr, tmp_path):
    repo = "one-domain/put"
    ecr.create_repository(repositoryName=repo)
    image = build_image([{"put.txt": b"stored through PutImage\n"}])
    put_image(ecr, repo, image, "v1")
    assert "lastRecordedPullTime" not in _detail(ecr, repo, imageTag="v1")

    before = time.time()
    out = OciLayout(tmp_path / "out")
    skopeo.copy(f"docker://{registry.ref(repo, 'v1')}", f"oci:{out.path}:v1", "--preserve-digests")
    after = time.time()
    index = json.loads((out.path / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest.digest
    assert (out.path / "blobs" / "sha256" / image.layers[0].digest.split(":")[1]).read_bytes() \
        == image.layers[0].data
    pulled = _detail(ecr, repo, imageTag="v1")["lastRecordedPullTime"].timestamp()
    assert before - 1 <= pulled <= after + 1


def test_an_immutable_tag_refuses_a_docker_push_and_a_put_image_that_move_it(
        registry, registry_api, docker_login, ecr, tmp_path):
    repo = "one-domain/immutable"
    ecr.create_repository(repositoryName=repo)
    ref = registry.ref(repo, "v1")
    _docker_image(docker_login, ref, {"one.txt": b"first\n"}, tmp_path)
    docker_login.docker("push", ref)
    first, _ = _stored_size(registry_api, repo, "v1")
    ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE")

    _docker_image(docker_login, ref, {"two.txt": b"second, meant to replace the first\n"}, tmp_path)
    proc = docker_login.docker("push", ref, check=False)
    assert proc.returncode != 0, proc.stdout
    output = proc.stdout + proc.stderr
    assert "already exists" in output and "immutable" in output.lower(), output

    # The same image in other bytes: a different manifest digest, every blob already there.
    moved = json.dumps(json.loads(registry_api.manifest(repo, "v1")[0]), indent=2)
    code = _error_code(lambda: ecr.put_image(repositoryName=repo, imageTag="v1",
                                             imageManifest=moved))
    assert code == "ImageTagAlreadyExistsException"
    assert registry_api.manifest(repo, "v1")[1] == first
    assert _detail(ecr, repo, imageTag="v1")["imageDigest"] == first


def test_a_delete_through_either_door_is_seen_through_the_other(
        registry, registry_api, skopeo: Skopeo, ecr, tmp_path):
    repo = "one-domain/deletes"
    ecr.create_repository(repositoryName=repo)
    digests = {}
    for tag in ("a", "b"):
        image = build_image([{f"{tag}.txt": f"image {tag}\n".encode()}])
        layout = OciLayout(tmp_path / tag).write(image.blobs, {tag: image.manifest})
        skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://{registry.ref(repo, tag)}",
                    "--preserve-digests")
        digests[tag] = image.manifest.digest
    assert {i["imageDigest"] for i in ecr.list_images(repositoryName=repo)["imageIds"]} \
        == set(digests.values())

    skopeo.delete(f"docker://{registry.ref(repo, digests['a'])}")
    code = _error_code(lambda: ecr.describe_images(repositoryName=repo,
                                                   imageIds=[{"imageDigest": digests["a"]}]))
    assert code == "ImageNotFoundException"
    assert [i["imageDigest"] for i in ecr.list_images(repositoryName=repo)["imageIds"]] \
        == [digests["b"]]

    result = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "b"}])
    assert result["failures"] == [] and result["imageIds"][0]["imageDigest"] == digests["b"]
    proc = skopeo("inspect", "--tls-verify=false", f"docker://{registry.ref(repo, 'b')}",
                  check=False)
    assert proc.returncode != 0
    assert "manifest unknown" in proc.stderr.lower(), proc.stderr
    assert registry_api.get_manifest(repo, digests["b"]).status_code == 404
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []


@pytest.fixture
def create_on_push_off(ecr) -> Iterator[None]:
    """The server's default registry without the ROOT CREATE_ON_PUSH template its first start
    wrote (pushes then make no repositories), written back afterwards."""
    root = ecr.delete_repository_creation_template(prefix="ROOT")["repositoryCreationTemplate"]
    try:
        yield
    finally:
        ecr.create_repository_creation_template(prefix="ROOT",
                                                appliedFor=root["appliedFor"])


def test_without_create_on_push_a_push_needs_create_repository(
        registry, registry_api, docker_login, ecr, create_on_push_off, tmp_path):
    repo = "one-domain/not-yet"
    account = ecr.describe_registry()["registryId"]
    wording = (f"The repository with name '{repo}' does not exist in the registry with id "
               f"'{account}'")

    r = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", auth=registry.auth, timeout=30)
    assert r.status_code == 404, r.text
    [error] = r.json()["errors"]
    assert error["code"] == "NAME_UNKNOWN" and error["message"] == wording, error

    ref = registry.ref(repo, "v1")
    _docker_image(docker_login, ref, {"nope.txt": b"no repository yet\n"}, tmp_path)
    proc = docker_login.docker("push", ref, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "does not exist in the registry" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert _error_code(lambda: ecr.describe_repositories(repositoryNames=[repo])) \
        == "RepositoryNotFoundException"

    ecr.create_repository(repositoryName=repo)
    docker_login.docker("push", ref)
    digest, size = _stored_size(registry_api, repo, "v1")
    detail = _detail(ecr, repo, imageTag="v1")
    assert (detail["imageDigest"], detail["imageSizeInBytes"]) == (digest, size)
