"""ECR lifecycle policies as users drive them: a preview (aws CLI, boto3's waiter and
paginator) lists what a policy would expire, the policy put with the aws CLI then expires
exactly that on its periodic run, the rest still pulls byte for byte with skopeo, and garbage
collection frees the blobs only the expired images had. An expired index takes its children,
an expired image its referrers. Mistakes are answered with ECR's exceptions."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import media_types as mt
from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client, put_image
from tests.support.credentials import admin_key
from tests.support.gc import (aws_ecr, content_blobs, eventually, image_of, is_stored,
                              layer, layout_of)
from tests.support.oci_layout import Blob, Image, OciLayout, build_index, canonical_json
from tests.support.oci_push import push_blob
from tests.support.skopeo import Skopeo
from tests.support.watched_node import FAST_LIFECYCLE, logged_in_skopeo, watched_node

pytestmark = pytest.mark.e2e

DAY = 86400.0
APP, MULTI = "lc/app", "lc/multi"
INVALID_PREFIX = ("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                  "'Lifecycle policy validation failure:")
APP_POLICY = {"rules": [
    {"rulePriority": 1, "description": "keep the 4 newest prod images",
     "selection": {"tagStatus": "tagged", "tagPatternList": ["prod-*"],
                   "countType": "imageCountMoreThan", "countNumber": 4},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "untagged images go after a week",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                   "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 3, "description": "at most 18 images in all",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 18},
     "action": {"type": "expire"}}]}


@dataclass
class Pushed:
    image: Image
    tags: tuple[str, ...]
    pushed_at: float = 0.0

    @property
    def digest(self) -> str:
        return self.image.manifest.digest


def expected_expiry(images: dict[str, Pushed], now: float) -> dict[str, int]:
    """digest -> appliedRulePriority, by the user guide's rules: every rule sees all images
    (newest first) and claims those it matches; it may act only on those no higher-priority
    rule claimed."""
    newest_first = sorted(images, key=lambda d: images[d].pushed_at, reverse=True)
    rules = [(1, lambda t: any(x.startswith("prod-") for x in t), lambda c: c[4:]),
             (2, lambda t: not t, lambda c: [d for d in c if images[d].pushed_at < now - 7 * DAY]),
             (3, lambda t: True, lambda c: c[18:])]
    claimed: set[str] = set()
    expired: dict[str, int] = {}
    for priority, matches, over in rules:
        candidates = [d for d in newest_first if matches(images[d].tags)]
        expired.update({d: priority for d in over(candidates) if d not in claimed})
        claimed.update(candidates)
    return expired


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[BerthNode]:
    with watched_node(tmp_path_factory.mktemp("lifecycle"), "berth lifecycle node",
                      FAST_LIFECYCLE) as found:
        yield found


@pytest.fixture(scope="module")
def skopeo(node, tmp_path_factory) -> Skopeo:
    return logged_in_skopeo(node, tmp_path_factory.mktemp("skopeo"))


@pytest.fixture(scope="module")
def ecr(node):
    return ecr_client(node.url, admin_key(node.credentials_dir))


def _dir(base: Path) -> Path:
    path = base / uuid.uuid4().hex[:10]
    path.mkdir(parents=True)
    return path


def push(skopeo: Skopeo, node: BerthNode, image: Image, repo: str, tag: str,
         base: Path) -> None:
    layout = layout_of(image, _dir(base), tag)
    skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://127.0.0.1:{node.port}/{repo}:{tag}",
                "--preserve-digests")


def ecr_push(ecr, repo: str, image: Image, tag: str) -> None:
    """As ``docker push`` through the ECR API: the layers ECR lacks, then the manifest."""
    found = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[b.digest for b in content_blobs(image)])["layers"]
    present = {x["layerDigest"] for x in found if x["layerAvailability"] == "AVAILABLE"}
    missing = [b for b in content_blobs(image) if b.digest not in present]
    put_image(ecr, repo, Image(image.manifest, missing[0], missing[1:], []), tag)


def set_ages(node: BerthNode, repo: str, ages: dict[str, float]) -> dict[str, float]:
    """Push times in the database: digest -> now - age days; returns digest -> push time."""
    now = time.time()
    times = {digest: now - days * DAY for digest, days in ages.items()}
    with sqlite3.connect(node.data_dir / "metadata.db", timeout=30) as conn:
        for digest, at in times.items():
            changed = conn.execute(
                "UPDATE manifests SET pushed_at = ? WHERE digest = ? AND repository_id ="
                " (SELECT id FROM repositories WHERE name = ?)", (at, digest, repo)).rowcount
            assert changed == 1, f"{repo}@{digest} is not stored"
    return times


def policy_file(policy: dict, base: Path) -> str:
    path = _dir(base) / "policy.json"
    path.write_text(json.dumps(policy))
    return f"file://{path}"


def put_policy_and_wait_for_run(node: BerthNode, ecr, repo: str, policy: dict,
                                base: Path) -> None:
    put = aws_ecr(node, "put-lifecycle-policy", "--repository-name", repo,
                  "--lifecycle-policy-text", policy_file(policy, base))
    assert json.loads(put["lifecyclePolicyText"]) == policy
    eventually(lambda: ecr.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"]
               .timestamp() > 0, f"the policy of {repo} ran", 30)


def described(node: BerthNode, repo: str) -> dict[str, list[str]]:
    """digest -> tags, as ``aws ecr describe-images`` (every page) lists them."""
    return {d["imageDigest"]: sorted(d.get("imageTags", []))
            for d in aws_ecr(node, "describe-images", "--repository-name", repo)["imageDetails"]}


def assert_pulls_whole(skopeo: Skopeo, node: BerthNode, repo: str, pushed: Pushed,
                       base: Path) -> None:
    out = OciLayout(_dir(base))
    ref = f"{repo}:{pushed.tags[0]}" if pushed.tags else f"{repo}@{pushed.digest}"
    skopeo.copy(f"docker://127.0.0.1:{node.port}/{ref}", f"oci:{out.path}:pulled")
    assert out.ref("pulled")["digest"] == pushed.digest, ref
    for blob in pushed.image.blobs:
        assert out.blob(blob.digest) == blob.data, f"{ref}: {blob.digest} differs"


# -- 1 and 2: a policy over 34 images --------------------------------------------------------
@pytest.fixture(scope="module")
def app(node, skopeo, ecr, tmp_path_factory) -> dict:
    """34 images in lc/app with distinct ages; a preview of APP_POLICY; then the policy put
    and run once."""
    base = tmp_path_factory.mktemp("app")
    shared = layer(8 * 1024, "base.bin")
    specs = ([(f"prod-{i}",) for i in range(1, 9)] + [("prod-9", "dev-99")]
             + [(f"dev-{i}",) for i in range(1, 15)] + [("preprod-1",), ("prod-3-rc", "stable")])
    images = []
    for tags in specs:
        images.append(Pushed(image_of([shared, layer(1024)], "/".join(tags)), tags))
        for tag in tags:
            push(skopeo, node, images[-1].image, APP, tag, base)
    for i in range(6):  # each push to "scratch" leaves the one before it untagged
        images.append(Pushed(image_of([shared, layer(1024)]), ("scratch",) if i == 5 else ()))
        push(skopeo, node, images[-1].image, APP, "scratch", base)
    for i, tag in enumerate(("ecr-1", "ecr-2", "ecr-2")):  # the first ecr-2 ends untagged
        images.append(Pushed(image_of([shared, layer(1024)]), (tag,) if i != 1 else ()))
        ecr_push(ecr, APP, images[-1].image, tag)
    by_digest = {p.digest: p for p in images}
    assert len(by_digest) == 34
    assert described(node, APP) == {d: sorted(p.tags) for d, p in by_digest.items()}
    ages = [i + 0.5 for i in range(len(images))]  # days; none near a whole-day boundary
    random.Random(1234).shuffle(ages)
    for digest, at in set_ages(node, APP, dict(zip(by_digest, ages))).items():
        by_digest[digest].pushed_at = at

    started = aws_ecr(node, "start-lifecycle-policy-preview", "--repository-name", APP,
                      "--lifecycle-policy-text", policy_file(APP_POLICY, base))
    assert started["status"] == "IN_PROGRESS", started
    ecr.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=APP, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    pages = list(ecr.get_paginator("get_lifecycle_policy_preview").paginate(
        repositoryName=APP, PaginationConfig={"PageSize": 5}))
    expected = expected_expiry(by_digest, time.time())
    assert len(described(node, APP)) == 34, "a preview deleted images"
    put_policy_and_wait_for_run(node, ecr, APP, APP_POLICY, base)
    return {"images": by_digest, "pages": pages, "expected": expected, "base": base,
            "shared": shared}


def test_a_policy_expires_exactly_what_its_preview_listed(node, app):
    images, pages, expected = app["images"], app["pages"], app["expected"]
    # The data exercises every rule; rule 1 keeps 4 prod images, rule 2 young untagged ones,
    # and rule 3 counts the images rules 1 and 2 keep (fewer than 18 are left).
    kept = [p for d, p in images.items() if d not in expected]
    assert sorted(set(expected.values())) == [1, 2, 3], expected
    assert sum(any(t.startswith("prod-") for t in p.tags) for p in kept) == 4
    assert any(not p.tags for p in kept) and len(kept) < 18
    assert len(pages) == -(-len(expected) // 5) > 1, [len(p["previewResults"]) for p in pages]
    results = [r for page in pages for r in page["previewResults"]]
    for page in pages:
        assert page["status"] == "COMPLETE"
        assert json.loads(page["lifecyclePolicyText"]) == APP_POLICY
        assert page["summary"] == {"expiringImageTotalCount": len(expected)}
    assert {r["imageDigest"]: r["appliedRulePriority"] for r in results} == expected
    assert len(results) == len(expected), "a result listed twice"
    for r in results:
        pushed = images[r["imageDigest"]]
        assert sorted(r.get("imageTags", [])) == sorted(pushed.tags)
        assert abs(r["imagePushedAt"].timestamp() - pushed.pushed_at) < 0.01
        assert (r["action"], r["storageClass"]) == ({"type": "EXPIRE"}, "STANDARD"), r
    # The run expired exactly the images the preview listed.
    remaining = described(node, APP)
    assert set(images) - set(remaining) == {r["imageDigest"] for r in results}
    assert remaining == {d: sorted(images[d].tags) for d in remaining}
    session = node.session()
    for digest in expected:
        r = session.get(f"{node.url}/v2/{APP}/manifests/{digest}", timeout=30,
                        headers={"Accept": mt.OCI_MANIFEST})
        assert r.status_code == 404, (digest, r.status_code)


def test_the_rest_pulls_whole_and_only_the_expired_images_blobs_are_freed(node, skopeo, app):
    images, expected = app["images"], app["expected"]
    kept = [p for d, p in images.items() if d not in expected]
    shared = app["shared"].digest
    only_expired = [b.digest for d in expected for b in content_blobs(images[d].image)
                    if b.digest != shared]
    assert len(only_expired) == 2 * len(expected)  # each image's config and own layer
    eventually(lambda: not any(is_stored(node.blobs_dir, d) for d in only_expired),
               "the expired images' own blobs were freed", 30)
    assert is_stored(node.blobs_dir, shared), "the layer every image shares was freed"
    for pushed in kept:
        assert all(is_stored(node.blobs_dir, b.digest) for b in content_blobs(pushed.image))
        assert_pulls_whole(skopeo, node, APP, pushed, app["base"])
    node.assert_consistent()


# -- 3: an index and referrers go with what they belong to -----------------------------------
def _put_referrer(node: BerthNode, subject: Blob) -> tuple[Blob, Blob]:
    """An SBOM artifact about ``subject``, pushed as oras does: its manifest and payload."""
    empty, payload = Blob(mt.OCI_EMPTY, b"{}"), Blob("application/spdx+json", os.urandom(700))
    manifest = Blob(mt.OCI_MANIFEST, canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": empty.descriptor(), "layers": [payload.descriptor()],
        "subject": subject.descriptor()}))
    session = node.session()
    for blob in (empty, payload):
        push_blob(session, node.url, MULTI, blob.data)
    r = session.put(f"{node.url}/v2/{MULTI}/manifests/{manifest.digest}", data=manifest.data,
                    headers={"Content-Type": mt.OCI_MANIFEST}, timeout=30)
    assert r.status_code == 201, r.text
    assert r.headers.get("OCI-Subject") == subject.digest
    return manifest, payload


def test_an_expired_index_takes_its_children_and_an_expired_image_its_referrers(
        node, skopeo, ecr, tmp_path):
    amd, arm = (image_of([layer(2048)], f"multi-{arch}") for arch in ("amd64", "arm64"))
    amd.platform, arm.platform = {"architecture": "amd64", "os": "linux"}, {
        "architecture": "arm64", "os": "linux"}
    index = build_index([amd, arm])
    old, current = image_of([layer(2048)], "old-single"), image_of([layer(2048)], "current")
    layout = OciLayout(_dir(tmp_path)).write([*amd.blobs, *arm.blobs], {"old-multi": index})
    skopeo.copy(f"oci:{layout.path}:old-multi",
                f"docker://127.0.0.1:{node.port}/{MULTI}:old-multi", "--all", "--preserve-digests")
    push(skopeo, node, old, MULTI, "old-single", tmp_path)
    push(skopeo, node, current, MULTI, "current", tmp_path)
    on_old, on_old_payload = _put_referrer(node, old.manifest)
    on_child, on_child_payload = _put_referrer(node, arm.manifest)
    on_current, on_current_payload = _put_referrer(node, current.manifest)
    all_digests = {index.digest, amd.manifest.digest, arm.manifest.digest, old.manifest.digest,
                   current.manifest.digest, on_old.digest, on_child.digest, on_current.digest}
    assert set(described(node, MULTI)) == all_digests
    # The children and referrers are young: they can only go with what they belong to.
    set_ages(node, MULTI, {index.digest: 60, amd.manifest.digest: 1, arm.manifest.digest: 1,
                           old.manifest.digest: 45, on_old.digest: 1, on_child.digest: 1,
                           current.manifest.digest: 2, on_current.digest: 1})

    policy = {"rules": [{"rulePriority": 1, "description": "anything pushed over 30 days ago",
                         "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
                                       "countUnit": "days", "countNumber": 30},
                         "action": {"type": "expire"}}]}
    put_policy_and_wait_for_run(node, ecr, MULTI, policy, tmp_path)
    assert described(node, MULTI) == {current.manifest.digest: ["current"],
                                      on_current.digest: []}
    session = node.session()
    for gone in all_digests - {current.manifest.digest, on_current.digest}:
        r = session.get(f"{node.url}/v2/{MULTI}/manifests/{gone}", timeout=30,
                        headers={"Accept": mt.ACCEPT_ALL_MANIFESTS})
        assert r.status_code == 404, (gone, r.status_code)
    r = session.get(f"{node.url}/v2/{MULTI}/referrers/{current.manifest.digest}", timeout=30)
    assert [m["digest"] for m in r.json()["manifests"]] == [on_current.digest], r.text

    freed = [b.digest for img in (amd, arm, old) for b in content_blobs(img)] + [
        on_old_payload.digest, on_child_payload.digest]
    eventually(lambda: not any(is_stored(node.blobs_dir, d) for d in freed),
               "the expired index's, image's and referrers' blobs were freed", 30)
    for blob in [*content_blobs(current), on_current_payload, Blob(mt.OCI_EMPTY, b"{}")]:
        assert is_stored(node.blobs_dir, blob.digest), f"{blob.digest} was freed"
    assert_pulls_whole(skopeo, node, MULTI, Pushed(current, ("current",)), tmp_path)


# -- 4: mistakes, as ECR answers them --------------------------------------------------------
def _error(call, **params) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_mistakes_are_answered_with_ecrs_exceptions(node, ecr):
    ecr.create_repository(repositoryName="lc/empty")
    untagged = {"rulePriority": 1, "description": "untagged images after a day",
                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                              "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}
    no_list = {**untagged, "selection": {"tagStatus": "tagged", "countNumber": 3,
                                         "countType": "imageCountMoreThan"}}
    for rules, detail in (
            ([untagged, {**untagged, "rulePriority": 2}],
             "Only one rule can select Untagged images per storage class."),
            ([no_list], "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED.")):
        for call in (ecr.put_lifecycle_policy, ecr.start_lifecycle_policy_preview):
            code, message = _error(call, repositoryName="lc/empty",
                                   lifecyclePolicyText=json.dumps({"rules": rules}))
            assert code == "InvalidParameterException", message
            assert message.startswith(INVALID_PREFIX), message
            assert message == f"{INVALID_PREFIX} {detail}'"
    # Neither a policy nor a preview was stored.
    for call in (ecr.get_lifecycle_policy, ecr.start_lifecycle_policy_preview,
                 ecr.delete_lifecycle_policy):
        code, message = _error(call, repositoryName="lc/empty")
        assert code == "LifecyclePolicyNotFoundException", message
        assert "'lc/empty'" in message
    code, message = _error(ecr.get_lifecycle_policy_preview, repositoryName="lc/empty")
    assert code == "LifecyclePolicyPreviewNotFoundException", message
    valid = json.dumps({"rules": [untagged]})
    for call, params in ((ecr.get_lifecycle_policy, {}), (ecr.get_lifecycle_policy_preview, {}),
                         (ecr.put_lifecycle_policy, {"lifecyclePolicyText": valid}),
                         (ecr.start_lifecycle_policy_preview, {"lifecyclePolicyText": valid})):
        code, message = _error(call, repositoryName="lc/nope", **params)
        assert code == "RepositoryNotFoundException", (call, message)
        assert "'lc/nope'" in message
