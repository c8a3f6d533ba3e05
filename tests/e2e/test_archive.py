"""ECR's archive storage class as users drive it: ``aws ecr update-image-storage-class``
archives an image that skopeo and podman then cannot pull (an image sharing its layers still
pulls whole), ``describe-images``/``list-images`` show it only under ``imageStatus=ARCHIVED``,
BatchGetImage answers ImageInaccessible, and a restore (ACTIVATING, then ACTIVE once the job
ran) makes it pullable again. A lifecycle policy's transition rule archives old images; an
archive rule (sinceImageTransitioned) expires those archived for 90 days or more; the account's
webhook is told of each, an "ECR Lifecycle Policy Action"."""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import media_types as mt
from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client
from tests.support.containers_storage import PODMAN, ContainersStorage
from tests.support.credentials import admin_key
from tests.support.gc import aws_ecr, eventually, is_stored
from tests.support.oci_layout import Blob, Image, OciLayout, build_image, canonical_json
from tests.support.oci_push import push_blob
from tests.support.procs import require_binary
from tests.support.skopeo import Skopeo
from tests.support.watched_node import FAST_LIFECYCLE, logged_in_skopeo, watched_node
from tests.support.webhooks import Webhooks, wait_for

pytestmark = pytest.mark.e2e

DAY = 86400.0
APP, LC = "arc/app", "arc/lc"
BASE = {"base.bin": os.urandom(16 * 1024)}  # the layer every image here shares


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[BerthNode]:
    with watched_node(tmp_path_factory.mktemp("archive"), "berth archive node",
                      FAST_LIFECYCLE) as found:
        yield found


@pytest.fixture
def webhooks():
    with Webhooks() as made:
        yield made


@pytest.fixture(scope="module")
def skopeo(node, tmp_path_factory) -> Skopeo:
    return logged_in_skopeo(node, tmp_path_factory.mktemp("skopeo"))


@pytest.fixture(scope="module")
def podman(node, tmp_path_factory) -> Iterator[ContainersStorage]:
    require_binary(PODMAN)
    store = ContainersStorage(tmp_path_factory.mktemp("podman"))
    store.login("podman", f"127.0.0.1:{node.port}", node.token)
    yield store
    store.cleanup()


@pytest.fixture(scope="module")
def ecr(node):
    return ecr_client(node.url, admin_key(node.credentials_dir))


def new_image(name: str, architecture: str = "amd64") -> Image:
    return build_image([BASE, {f"{name}.txt": os.urandom(2048)}], architecture=architecture)


def _dir(base: Path) -> Path:
    path = base / uuid.uuid4().hex[:10]
    path.mkdir(parents=True)
    return path


def push(skopeo: Skopeo, node: BerthNode, repo: str, tag: str, image: Image | None,
         base: Path, index: Blob | None = None, children: list[Image] = ()) -> None:
    blobs = [b for i in ([image] if image else children) for b in i.blobs]
    layout = OciLayout(_dir(base)).write(blobs, {tag: index or image.manifest})
    skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://127.0.0.1:{node.port}/{repo}:{tag}",
                "--all", "--preserve-digests")


def pull(skopeo: Skopeo, node: BerthNode, ref: str, base: Path, check: bool = True):
    out = OciLayout(_dir(base))
    done = skopeo("copy", "--src-tls-verify=false", f"docker://127.0.0.1:{node.port}/{ref}",
                  f"oci:{out.path}:pulled", check=check)
    return out if done.returncode == 0 else done


def assert_pulls_whole(skopeo, node, ref: str, image: Image, base: Path) -> None:
    out = pull(skopeo, node, ref, base)
    assert out.ref("pulled")["digest"] == image.manifest.digest, ref
    for blob in (image.config, *image.layers):
        assert out.blob(blob.digest) == blob.data, f"{ref}: {blob.digest} differs"


def assert_not_pulled(skopeo, podman, node, ref: str, base: Path) -> None:
    failed = pull(skopeo, node, ref, base, check=False)
    assert failed.returncode != 0 and "manifest unknown" in failed.stderr.lower(), failed.stderr
    failed = podman.podman("pull", "--tls-verify=false", f"127.0.0.1:{node.port}/{ref}",
                           check=False)
    assert failed.returncode != 0 and "manifest unknown" in failed.stderr.lower(), failed.stderr


def error(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"]


def by_status(node: BerthNode, repo: str, status: str) -> dict[str, dict]:
    """digest -> detail, as ``aws ecr describe-images --filter imageStatus=...`` lists them."""
    return {d["imageDigest"]: d for d in aws_ecr(
        node, "describe-images", "--repository-name", repo,
        "--filter", f"imageStatus={status}")["imageDetails"]}


def put_referrer(node: BerthNode, repo: str, subject: Blob) -> Blob:
    """An SBOM about ``subject``, pushed as oras does."""
    empty, payload = Blob(mt.OCI_EMPTY, b"{}"), Blob("application/spdx+json", os.urandom(300))
    manifest = Blob(mt.OCI_MANIFEST, canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": empty.descriptor(), "layers": [payload.descriptor()],
        "subject": subject.descriptor()}))
    session = node.session()
    for blob in (empty, payload):
        push_blob(session, node.url, repo, blob.data)
    r = session.put(f"{node.url}/v2/{repo}/manifests/{manifest.digest}", data=manifest.data,
                    headers={"Content-Type": mt.OCI_MANIFEST}, timeout=30)
    assert r.status_code == 201, r.text
    return manifest


@pytest.fixture(scope="module")
def app(node, skopeo, ecr, tmp_path_factory) -> dict:
    """arc/app: "old" (with an SBOM) and "new" sharing a layer, and an index "multi"; then
    "old" archived with the aws CLI."""
    base = tmp_path_factory.mktemp("app")
    old, new = new_image("old"), new_image("new")
    amd, arm = new_image("multi-amd64"), new_image("multi-arm64", "arm64")
    amd.platform, arm.platform = {"architecture": "amd64", "os": "linux"}, {
        "architecture": "arm64", "os": "linux"}
    push(skopeo, node, APP, "old", old, base)
    push(skopeo, node, APP, "new", new, base)
    index = Blob(mt.OCI_INDEX, canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                               "manifests": [i.manifest.descriptor(
                                                   platform=i.platform) for i in (amd, arm)]}))
    push(skopeo, node, APP, "multi", None, base, index, [amd, arm])
    sbom = put_referrer(node, APP, old.manifest)
    before = time.time()
    answer = aws_ecr(node, "update-image-storage-class", "--repository-name", APP,
                     "--image-id", "imageTag=old", "--target-storage-class", "ARCHIVE")
    return {"old": old, "new": new, "amd": amd, "index": index, "sbom": sbom, "base": base,
            "answer": answer, "before": before, "after": time.time()}


def test_an_archived_image_is_listed_apart_and_not_pulled_until_restored(
        node, skopeo, podman, ecr, app):
    old, new, base = app["old"], app["new"], app["base"]
    assert app["answer"]["imageStatus"] == "ARCHIVED", app["answer"]
    assert app["answer"]["imageId"] == {"imageDigest": old.manifest.digest, "imageTag": "old"}
    assert_not_pulled(skopeo, podman, node, f"{APP}:old", base)
    assert_not_pulled(skopeo, podman, node, f"{APP}@{old.manifest.digest}", base)
    r = node.session().get(f"{node.url}/v2/{APP}/manifests/old", timeout=30,
                           headers={"Accept": mt.OCI_MANIFEST})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", r.text
    # Blobs do not move: the image sharing a layer with it pulls whole, with podman too.
    assert_pulls_whole(skopeo, node, f"{APP}:new", new, base)
    podman.podman("pull", "--tls-verify=false", f"127.0.0.1:{node.port}/{APP}:new")

    active = set(by_status(node, APP, "ACTIVE"))
    assert old.manifest.digest not in active and new.manifest.digest in active
    default = {d["imageDigest"] for d in aws_ecr(node, "describe-images", "--repository-name",
                                                 APP)["imageDetails"]}
    assert default == active
    archived = by_status(node, APP, "ARCHIVED")
    assert set(archived) == {old.manifest.digest, app["sbom"].digest}  # the SBOM went too
    detail = archived[old.manifest.digest]
    assert detail["imageStatus"] == "ARCHIVED" and detail["imageTags"] == ["old"]
    assert app["before"] - 1 <= detail["lastArchivedAt"] <= app["after"] + 1, detail
    assert "lastActivatedAt" not in detail
    every = by_status(node, APP, "ANY")
    assert set(every) == active | set(archived)
    listed = aws_ecr(node, "list-images", "--repository-name", APP, "--filter",
                     "tagStatus=TAGGED,imageStatus=ARCHIVED")["imageIds"]
    assert listed == [{"imageDigest": old.manifest.digest, "imageTag": "old"}]
    got = ecr.batch_get_image(repositoryName=APP, imageIds=[{"imageTag": "old"},
                                                            {"imageTag": "new"}])
    assert [i["imageId"]["imageTag"] for i in got["images"]] == ["new"]
    assert [(f["imageId"], f["failureCode"]) for f in got["failures"]] == [
        ({"imageTag": "old"}, "ImageInaccessible")]

    restored = ecr.update_image_storage_class(repositoryName=APP, imageId={"imageTag": "old"},
                                              targetStorageClass="STANDARD")
    assert restored["imageStatus"] == "ACTIVATING"
    eventually(lambda: ecr.describe_images(repositoryName=APP, imageIds=[{"imageTag": "old"}])[
        "imageDetails"][0]["imageStatus"] == "ACTIVE", "the restore job ran", 30)
    [detail] = ecr.describe_images(repositoryName=APP, imageIds=[{"imageTag": "old"}])[
        "imageDetails"]
    assert detail["lastActivatedAt"].timestamp() >= app["after"] - 1, detail
    assert_pulls_whole(skopeo, node, f"{APP}:old", old, base)
    pulled = podman.podman("pull", "--tls-verify=false", f"127.0.0.1:{node.port}/{APP}:old")
    assert pulled.stdout.strip().splitlines()[-1] == old.config.digest.split(":")[1]
    assert not by_status(node, APP, "ARCHIVED") and not by_status(node, APP, "ACTIVATING")


def test_refusals_and_paging_are_ecrs(node, ecr, app):
    child = {"imageDigest": app["amd"].manifest.digest}
    assert error(ecr.update_image_storage_class, repositoryName=APP, imageId=child,
                 targetStorageClass="ARCHIVE") == "ImageStorageClassUpdateNotSupportedException"
    assert error(ecr.update_image_storage_class, repositoryName=APP,
                 imageId={"imageTag": "nope"}, targetStorageClass="ARCHIVE") == (
        "ImageNotFoundException")
    first = ecr.list_images(repositoryName=APP, maxResults=1)
    assert first["nextToken"]
    assert error(ecr.list_images, repositoryName=APP, nextToken=first["nextToken"],
                 filter={"imageStatus": "ANY"}) == "InvalidParameterException"
    described = ecr.describe_images(repositoryName=APP, maxResults=1)
    assert error(ecr.describe_images, repositoryName=APP, nextToken=described["nextToken"],
                 filter={"imageStatus": "ARCHIVED"}) == "InvalidParameterException"
    pages = list(ecr.get_paginator("describe_images").paginate(
        repositoryName=APP, filter={"imageStatus": "ANY"}, PaginationConfig={"PageSize": 2}))
    seen = [d["imageDigest"] for p in pages for d in p["imageDetails"]]
    assert len(pages) > 1 and len(seen) == len(set(seen)) == len(by_status(node, APP, "ANY"))


def test_list_image_referrers_shows_the_archive(node, ecr, app):
    digest = app["new"].manifest.digest
    sbom = put_referrer(node, APP, app["new"].manifest)
    ecr.update_image_storage_class(repositoryName=APP, imageId={"imageDigest": digest},
                                   targetStorageClass="ARCHIVE")
    # ListImageReferrers lists ACTIVE artifacts unless its filter says otherwise, and gives
    # each one's artifactStatus.
    default = ecr.list_image_referrers(repositoryName=APP, subjectId={"imageDigest": digest})
    assert default["referrers"] == [], default["referrers"]
    archived = ecr.list_image_referrers(repositoryName=APP, subjectId={"imageDigest": digest},
                                        filter={"artifactStatus": "ARCHIVED"})["referrers"]
    assert [(r["digest"], r["artifactStatus"]) for r in archived] == [(sbom.digest, "ARCHIVED")]


def set_column(node: BerthNode, repo: str, column: str, values: dict[str, float]) -> None:
    with sqlite3.connect(node.data_dir / "metadata.db", timeout=30) as conn:
        for digest, at in values.items():
            assert conn.execute(
                f"UPDATE manifests SET {column} = ? WHERE digest = ? AND repository_id ="
                " (SELECT id FROM repositories WHERE name = ?)", (at, digest, repo)).rowcount == 1


def put_policy_and_wait(node: BerthNode, ecr, rules: list[dict], base: Path) -> None:
    path = _dir(base) / "policy.json"
    path.write_text(json.dumps({"rules": rules}))
    put_at = time.time()
    aws_ecr(node, "put-lifecycle-policy", "--repository-name", LC,
            "--lifecycle-policy-text", f"file://{path}")
    eventually(lambda: ecr.get_lifecycle_policy(repositoryName=LC)["lastEvaluatedAt"]
               .timestamp() > put_at, "the policy ran", 30)


TRANSITION = {"rulePriority": 1, "description": "archive old-* after 30 days",
              "selection": {"tagStatus": "tagged", "tagPrefixList": ["old"],
                            "countType": "sinceImagePushed", "countUnit": "days",
                            "countNumber": 30},
              "action": {"type": "transition", "targetStorageClass": "archive"}}
EXPIRE_ARCHIVED = {"rulePriority": 2, "description": "expire what was archived 90 days ago",
                   "selection": {"tagStatus": "any", "storageClass": "archive",
                                 "countType": "sinceImageTransitioned", "countUnit": "days",
                                 "countNumber": 90},
                   "action": {"type": "expire"}}


def test_a_policy_archives_old_images_then_expires_them_from_the_archive(
        node, skopeo, podman, ecr, webhooks, tmp_path):
    receiver = webhooks.watch(node, "ECR Lifecycle Policy Action")
    images = {tag: new_image(tag) for tag in ("old-1", "old-2", "keep-1")}
    for tag, image in images.items():
        push(skopeo, node, LC, tag, image, tmp_path)
    digest = {tag: image.manifest.digest for tag, image in images.items()}
    set_column(node, LC, "pushed_at", {digest["old-1"]: time.time() - 40 * DAY,
                                       digest["old-2"]: time.time() - 50 * DAY,
                                       digest["keep-1"]: time.time() - 45 * DAY})
    put_policy_and_wait(node, ecr, [TRANSITION], tmp_path)
    assert set(by_status(node, LC, "ARCHIVED")) == {digest["old-1"], digest["old-2"]}
    assert set(by_status(node, LC, "ACTIVE")) == {digest["keep-1"]}
    assert_not_pulled(skopeo, podman, node, f"{LC}:old-1", tmp_path)
    assert_pulls_whole(skopeo, node, f"{LC}:keep-1", images["keep-1"], tmp_path)

    too_soon = {**EXPIRE_ARCHIVED, "selection": {**EXPIRE_ARCHIVED["selection"],
                                                 "countNumber": 89}}
    assert error(ecr.put_lifecycle_policy, repositoryName=LC, lifecyclePolicyText=json.dumps(
        {"rules": [TRANSITION, too_soon]})) == "InvalidParameterException"
    set_column(node, LC, "last_archived_at", {digest["old-1"]: time.time() - 100 * DAY,
                                              digest["old-2"]: time.time() - 60 * DAY})
    put_policy_and_wait(node, ecr, [TRANSITION, EXPIRE_ARCHIVED], tmp_path)
    assert set(by_status(node, LC, "ANY")) == {digest["old-2"], digest["keep-1"]}
    assert set(by_status(node, LC, "ARCHIVED")) == {digest["old-2"]}
    own = [b.digest for b in (images["old-1"].config, images["old-1"].layers[1])]
    eventually(lambda: not any(is_stored(node.blobs_dir, d) for d in own),
               "the expired image's own blobs were freed", 30)
    assert is_stored(node.blobs_dir, images["old-1"].layers[0].digest)  # shared: kept
    assert_pulls_whole(skopeo, node, f"{LC}:keep-1", images["keep-1"], tmp_path)
    told = wait_for(receiver, "ECR Lifecycle Policy Action", 3)
    assert sorted((e["detail"]["action-type"], e["detail"]["image-digest"],
                   e["detail"]["image-tags"], e["detail"]["rule-priority"],
                   e["detail"].get("target-storage-class", "")) for e in told) == sorted([
        ("TRANSITION", digest["old-1"], ["old-1"], 1, "ARCHIVE"),
        ("TRANSITION", digest["old-2"], ["old-2"], 1, "ARCHIVE"),
        ("EXPIRE", digest["old-1"], ["old-1"], 2, "")])
    assert all(e["resources"] == [f"arn:aws:ecr:us-east-1:{e['account']}:repository/{LC}"]
               and e["detail"]["repository-name"] == LC for e in told)
    node.assert_consistent()
