"""A lifecycle policy on S3 storage (Ceph's RADOS gateway) and PostgreSQL metadata, end to end:
8 images pushed with skopeo share a base layer; a policy put with boto3 keeps the 3 newest by
push time; its periodic run expires the 5 others (one PolicyExecutionEvent each in the audit
trail), garbage collection removes the objects only they used from the bucket, the shared
base layer stays, and the 3 kept images still pull byte for byte."""
from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.e2e.test_audit import lookup
from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client
from tests.support.ceph import S3Storage
from tests.support.credentials import admin_key
from tests.support.gc import (
    content_blobs,
    eventually,
    image_of,
    layer,
    layout_of,
    log_problems,
)
from tests.support.log_watch import LOGS
from tests.support.oci_layout import Image, OciLayout
from tests.support.watched_node import FAST_LIFECYCLE, logged_in_skopeo

pytestmark = pytest.mark.e2e

REPO = "lcs3/app"
DAY = 86400.0
KEEP = 3
POLICY = {"rules": [{"rulePriority": 1, "description": "keep the 3 newest images",
                     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                   "countNumber": KEEP},
                     "action": {"type": "expire"}}]}


@pytest.fixture(scope="module")
def storage(ceph) -> S3Storage:
    return ceph.storage("lifecycle")


@pytest.fixture(scope="module")
def node(tmp_path_factory, postgres, storage) -> Iterator[BerthNode]:
    # The bucket encrypts at rest itself: Berth stores blobs as they are (one key per digest).
    env = {**FAST_LIFECYCLE, "BERTH_GC_GRACE_SECONDS": "1", "BERTH_STORAGE_ENCRYPTED": "true"}
    node = BerthNode(tmp_path_factory.mktemp("lifecycle-s3"), extra_args=("--workers", "1"),
                     database_url=postgres.create_database(), s3=storage, env=env).start()
    LOGS.add("berth lifecycle s3 node", node.daemon.log_path)
    try:
        yield node
    finally:
        LOGS.remove("berth lifecycle s3 node")
        node.stop()
    problems = log_problems(node.log_text())
    assert not problems, problems


def _dir(base: Path) -> Path:
    path = base / uuid.uuid4().hex[:10]
    path.mkdir(parents=True)
    return path


def stored(storage: S3Storage) -> set[str]:
    """The digests of the objects in the bucket (under whichever key ref)."""
    return {"sha256:" + key.rsplit("/", 1)[1] for key in storage.keys("data/")}


def set_push_times(node: BerthNode, times: dict[str, float]) -> None:
    with psycopg.connect(node.database_url) as conn:  # commits on leaving
        for digest, at in times.items():
            changed = conn.execute(
                "UPDATE manifests SET pushed_at = %s WHERE digest = %s AND repository_id ="
                " (SELECT id FROM repositories WHERE name = %s)", (at, digest, REPO)).rowcount
            assert changed == 1, f"{REPO}@{digest} is not stored"


@pytest.fixture(scope="module")
def run(node, storage, tmp_path_factory) -> dict:
    """8 images with shuffled push times, the policy put and run once."""
    base = tmp_path_factory.mktemp("lifecycle-s3-images")
    skopeo = logged_in_skopeo(node, _dir(base))
    shared = layer(16 * 1024, "base.bin")
    images = {f"v{i}": image_of([shared, layer(4096)], f"v{i}") for i in range(8)}

    def push(tag: str) -> None:
        layout = layout_of(images[tag], _dir(base), tag)
        skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://127.0.0.1:{node.port}/{REPO}:{tag}",
                    "--preserve-digests")

    with ThreadPoolExecutor(4) as pool:  # as parallel CI jobs push; each raises if it failed
        list(pool.map(push, images))
    every_blob = {b.digest for image in images.values() for b in content_blobs(image)}
    assert len(every_blob) == 1 + 2 * len(images) and stored(storage) == every_blob

    # Push times not in push order: the policy must go by them. Ages in days, none equal.
    ages = [i + 0.5 for i in range(len(images))]
    random.Random(7).shuffle(ages)
    now = time.time()
    times = {tag: now - age * DAY for tag, age in zip(images, ages)}
    set_push_times(node, {images[tag].manifest.digest: at for tag, at in times.items()})
    newest_first = sorted(images, key=times.__getitem__, reverse=True)
    kept, expired = newest_first[:KEEP], newest_first[KEEP:]
    assert sorted(kept) != sorted(list(images)[-KEEP:]), "ages must not follow the tags' order"

    ecr = ecr_client(node.url, admin_key(node.credentials_dir))
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=json.dumps(POLICY))
    eventually(lambda: ecr.get_lifecycle_policy(repositoryName=REPO)["lastEvaluatedAt"]
               .timestamp() > 0, "the policy ran", 60)
    return {"ecr": ecr, "skopeo": skopeo, "base": base, "shared": shared, "images": images,
            "kept": kept, "expired": expired, "times": times}


def test_exactly_the_oldest_images_expire_each_with_an_audit_event(node, run):
    images, ecr = run["images"], run["ecr"]
    details = [d for page in ecr.get_paginator("describe_images").paginate(repositoryName=REPO)
               for d in page["imageDetails"]]
    assert {d["imageDigest"]: d.get("imageTags", []) for d in details} == {
        images[tag].manifest.digest: [tag] for tag in run["kept"]}
    for d in details:
        tag = d["imageTags"][0]
        assert abs(d["imagePushedAt"].timestamp() - run["times"][tag]) < 1, d
    session = node.session()
    for tag in run["expired"]:
        r = session.get(f"{node.url}/v2/{REPO}/manifests/{images[tag].manifest.digest}",
                        timeout=30)
        assert r.status_code == 404, (tag, r.status_code)

    events, _ = lookup(node, "--event-name", "PolicyExecutionEvent", "--max-items", "1000")
    assert {e["EventName"] for e in events} <= {"PolicyExecutionEvent"}, events
    assert Counter(e["RequestParameters"]["imageDigest"] for e in events) == Counter(
        images[tag].manifest.digest for tag in run["expired"]), events
    for event in events:
        digest = event["RequestParameters"]["imageDigest"]
        [tag] = [t for t in run["expired"] if images[t].manifest.digest == digest]
        assert event["RequestParameters"] == {"actionType": "EXPIRE", "imageDigest": digest,
                                              "imageTags": [tag], "rulePriority": 1}, event
        assert event["PrincipalArn"] == "ecr.amazonaws.com", event
        assert event["Resources"][0]["ResourceName"].endswith(f":repository/{REPO}"), event


def test_gc_removes_from_the_bucket_only_what_the_expired_images_used(node, storage, run):
    images, shared = run["images"], run["shared"]
    kept_blobs = {b.digest for tag in run["kept"] for b in content_blobs(images[tag])}
    only_expired = {b.digest for tag in run["expired"] for b in content_blobs(images[tag])
                    } - kept_blobs
    assert shared.digest in kept_blobs and len(only_expired) == 2 * len(run["expired"])
    eventually(lambda: not stored(storage) & only_expired,
               "the expired images' own objects left the bucket", 60)
    assert stored(storage) == kept_blobs  # nothing else went, nothing else stays
    assert storage.blob(shared.digest) == shared.data
    assert node.query("SELECT count(*) FROM blobs") == [(len(kept_blobs),)]


def test_the_kept_images_pull_whole(node, run):
    for tag in run["kept"]:
        image: Image = run["images"][tag]
        out = OciLayout(_dir(run["base"]))
        run["skopeo"].copy(f"docker://127.0.0.1:{node.port}/{REPO}:{tag}", f"oci:{out.path}:{tag}")
        assert out.ref(tag)["digest"] == image.manifest.digest, tag
        for blob in image.blobs:
            assert out.blob(blob.digest) == blob.data, f"{tag}: {blob.digest} differs"
    node.assert_consistent()
