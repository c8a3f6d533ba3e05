"""Garbage collection as a user sees it: content that a deleted repository or image left
behind disappears from the blob storage once the grace period has passed, while images
that share its layers still pull whole; ``berth admin gc [--dry-run]`` and ``berth admin
usage`` report what there is and what a sweep would free, offline and online."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.berth_node import BerthNode
from tests.support.gc import (admin_offline, admin_online, aws_ecr, blob_files, content_blobs,
                              eventually, gc_env, gc_reports, image_of, is_stored, layer,
                              layout_of, log_problems, stored_files)
from tests.support.log_watch import LOGS
from tests.support.oci_layout import Image, OciLayout
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

REGION = "us-east-1"


@pytest.fixture
def start_node(tmp_path) -> Iterator[Callable[[dict[str, str]], BerthNode]]:
    """start(env) -> a running one-process node with those settings, stopped after the test."""
    started: list[BerthNode] = []

    def start(env: dict[str, str]) -> BerthNode:
        node = BerthNode(tmp_path / f"node{len(started)}", extra_args=("--workers", "1"),
                         env=env)
        started.append(node)
        node.start()
        LOGS.add(f"berth node {len(started)}", node.daemon.log_path)
        return node

    yield start
    for i, node in enumerate(started, 1):
        LOGS.remove(f"berth node {i}")
        node.stop()


def skopeo_for(node: BerthNode, tmp_path: Path) -> Skopeo:
    client = Skopeo(_fresh_dir(tmp_path, "skopeo"))
    client.login(f"127.0.0.1:{node.port}", node.token)
    return client


def push(skopeo: Skopeo, node: BerthNode, image: Image, repo: str, tag: str,
         tmp_path: Path) -> None:
    layout = layout_of(image, _fresh_dir(tmp_path, "push"), tag)
    skopeo.copy(f"oci:{layout.path}:{tag}", f"docker://127.0.0.1:{node.port}/{repo}:{tag}",
                "--preserve-digests")


def assert_pulls_whole(skopeo: Skopeo, node: BerthNode, image: Image, repo: str, tag: str,
                       tmp_path: Path) -> None:
    """skopeo copies the image out of the registry byte for byte: same manifest digest,
    every blob identical."""
    out = OciLayout(_fresh_dir(tmp_path, "pull"))
    skopeo.copy(f"docker://127.0.0.1:{node.port}/{repo}:{tag}", f"oci:{out.path}:{tag}")
    assert out.ref(tag)["digest"] == image.manifest.digest
    for blob in image.blobs:
        assert out.blob(blob.digest) == blob.data, f"{repo}:{tag} blob {blob.digest} differs"


def _fresh_dir(tmp_path: Path, prefix: str) -> Path:
    path = tmp_path / f"{prefix}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def _freed(node: BerthNode, digests: list[str]) -> Callable[[], bool]:
    return lambda: not any(is_stored(node.blobs_dir, d) for d in digests)


def test_a_deleted_repositorys_blobs_are_freed_and_a_shared_layer_still_pulls(
        start_node, tmp_path):
    grace = 3
    node = start_node(gc_env(grace=grace, interval=1))
    skopeo = skopeo_for(node, tmp_path)
    shared = layer(64 * 1024, "shared.bin")
    doomed = image_of([shared, layer(32 * 1024), layer(16 * 1024), layer(8 * 1024)], "doomed")
    kept = image_of([shared, layer(24 * 1024)], "kept")
    push(skopeo, node, doomed, "gc/doomed", "v1", tmp_path)
    push(skopeo, node, kept, "gc/kept", "v1", tmp_path)
    only_doomed = [b.digest for b in content_blobs(doomed) if b.digest != shared.digest]
    for blob in content_blobs(doomed) + content_blobs(kept):
        assert is_stored(node.blobs_dir, blob.digest), f"{blob.digest} was never stored"

    asked = time.monotonic()
    aws_ecr(node, "delete-repository", "--repository-name", "gc/doomed", "--force")
    assert all(is_stored(node.blobs_dir, d) for d in only_doomed), "freed within the grace"
    eventually(_freed(node, only_doomed), "the deleted repository's own blobs were freed", 30)
    assert time.monotonic() - asked >= grace, "blobs freed before the grace period passed"

    assert is_stored(node.blobs_dir, shared.digest)
    assert_pulls_whole(skopeo, node, kept, "gc/kept", "v1", tmp_path)
    # One stored object per blob of the surviving image, and nothing else.
    assert sorted(d for _, d in node.query("SELECT key_ref, digest FROM blobs")) == sorted(
        b.digest for b in content_blobs(kept))
    assert len(stored_files(node.blobs_dir)) == len(content_blobs(kept))
    freed = sum(r["objects_deleted"] for r in gc_reports(node.log_text()))
    assert freed == len(only_doomed), gc_reports(node.log_text())
    assert not log_problems(node.log_text())


def _usage(account: str, repositories: dict[str, list]) -> dict:
    """GetStorageUsage's answer for one account's registry with these repositories' blobs:
    each repository counts its own, the account each distinct blob once."""
    distinct = {b.digest: b for blobs in repositories.values() for b in blobs}
    return {"Registries": [{
        "AccountId": account, "Region": REGION, "Objects": len(distinct),
        "Bytes": sum(b.size for b in distinct.values()),
        "Repositories": [{"RepositoryName": name, "Objects": len(blobs),
                          "Bytes": sum(b.size for b in blobs)}
                         for name, blobs in sorted(repositories.items())]}]}


def _counts(report: dict) -> dict:
    """What RunGarbageCollection says it freed (or would free), without its timing."""
    return {k: report[k] for k in ("DryRun", "GraceSeconds", "LinksRemoved", "ObjectsDeleted",
                                   "BytesFreed", "OrphansFound", "OrphanBytes")}


def _rows(node: BerthNode) -> tuple[list, list]:
    return (sorted(node.query("SELECT key_ref, digest, size, unreferenced_since FROM blobs")),
            sorted(node.query("SELECT repository_id, digest, unreferenced_since"
                              " FROM repository_blobs")))


def test_admin_gc_dry_run_then_gc_and_usage_offline_and_online(start_node, tmp_path):
    grace = 6
    # The node runs its jobs (events are delivered) but its sweeps are a day apart: only the
    # operator's `berth admin gc` frees anything during the test.
    node = start_node(gc_env(grace=grace, interval=86400))
    skopeo = skopeo_for(node, tmp_path)
    shared = layer(40 * 1024, "shared.bin")
    one = image_of([shared, layer(30 * 1024), layer(20 * 1024)], "one")
    two = image_of([shared, layer(10 * 1024)], "two")
    push(skopeo, node, one, "usage/one", "v1", tmp_path)
    push(skopeo, node, two, "usage/two", "v1", tmp_path)
    account = aws_ecr(node, "describe-registry")["registryId"]

    before = _usage(account, {"usage/one": content_blobs(one), "usage/two": content_blobs(two)})
    assert admin_online(node, "usage") == before
    # The shared layer counts in each repository, and once in the account's total.
    assert before["Registries"][0]["Objects"] == len(content_blobs(one)) + len(
        content_blobs(two)) - 1

    asked = time.monotonic()
    deleted = aws_ecr(node, "batch-delete-image", "--repository-name", "usage/one",
                      "--image-ids", f"imageDigest={one.manifest.digest}")
    assert deleted["failures"] == [], deleted
    [(repo_id,)] = node.query("SELECT id FROM repositories WHERE name = ?", "usage/one")
    eventually(lambda: node.query("SELECT count(*) FROM repository_blobs WHERE repository_id = ?"
                                  " AND unreferenced_since IS NULL", repo_id) == [(0,)],
               "the deletion started its blobs' grace period", 30)
    early = admin_online(node, "gc", "--dry-run")
    assert time.monotonic() - asked < grace, "too slow to look within the grace period"
    assert (early["DryRun"], early["GraceSeconds"], early["LinksRemoved"],
            early["ObjectsDeleted"], early["BytesFreed"]) == (True, grace, 0, 0, 0), early

    node.stop()
    time.sleep(max(0.0, asked + grace + 0.5 - time.monotonic()))
    files, rows = stored_files(node.blobs_dir), _rows(node)
    only_one = [b for b in content_blobs(one) if b.digest != shared.digest]
    would_free = {"DryRun": True, "GraceSeconds": grace, "LinksRemoved": len(content_blobs(one)),
                  "ObjectsDeleted": len(only_one), "BytesFreed": sum(b.size for b in only_one),
                  "OrphansFound": 0, "OrphanBytes": 0}
    dry = admin_offline(node, "gc", "--dry-run")
    assert _counts(dry) == would_free, dry
    assert stored_files(node.blobs_dir) == files and _rows(node) == rows, "a dry run changed things"
    # Until a sweep removes them, the deleted image's blobs still count.
    assert admin_offline(node, "usage") == before
    assert admin_offline(node, "usage", "--account", account) == before

    node.start()
    dry = admin_online(node, "gc", "--dry-run")
    assert _counts(dry) == would_free, dry
    done = admin_online(node, "gc")
    assert _counts(done) == {**would_free, "DryRun": False}, done
    for blob in only_one:
        assert not is_stored(node.blobs_dir, blob.digest), f"{blob.digest} was not freed"
    for blob in content_blobs(two):
        assert is_stored(node.blobs_dir, blob.digest), f"{blob.digest} was freed"
    # Exactly those files went; the others are untouched.
    gone = {b.digest.split(":")[1] for b in only_one}
    assert stored_files(node.blobs_dir) == {k: v for k, v in files.items()
                                            if k.rsplit("/", 1)[-1] not in gone}
    again = admin_online(node, "gc")
    assert (again["LinksRemoved"], again["ObjectsDeleted"], again["BytesFreed"]) == (0, 0, 0)

    after = _usage(account, {"usage/one": [], "usage/two": content_blobs(two)})
    assert admin_online(node, "usage") == after
    assert admin_online(node, "usage", "--account", account) == after
    node.assert_consistent()
    assert_pulls_whole(skopeo, node, two, "usage/two", "v1", tmp_path)
    node.stop()
    assert admin_offline(node, "usage") == after
    assert not log_problems(node.log_text())


def test_an_image_deleted_by_digest_frees_its_layers_but_not_one_a_new_push_shares(
        start_node, tmp_path):
    grace = 4
    node = start_node(gc_env(grace=grace, interval=1))
    skopeo = skopeo_for(node, tmp_path)
    shared = layer(48 * 1024, "base.bin")
    old = image_of([shared, layer(16 * 1024), layer(12 * 1024)], "old")
    new = image_of([shared, layer(20 * 1024)], "new")
    push(skopeo, node, old, "oci/app", "old", tmp_path)
    [shared_file] = blob_files(node.blobs_dir, shared.digest)
    inode = shared_file.stat().st_ino
    only_old = [b.digest for b in content_blobs(old) if b.digest != shared.digest]

    asked = time.monotonic()
    r = node.session().delete(f"{node.url}/v2/oci/app/manifests/{old.manifest.digest}",
                              timeout=30)
    assert r.status_code == 202, r.text
    # Meanwhile -- within the grace period, while the old image's layers wait to be freed --
    # a new image that shares one of them is pushed into the same repository.
    push(skopeo, node, new, "oci/app", "new", tmp_path)
    assert time.monotonic() - asked < grace, "the push must land within the grace period"

    eventually(_freed(node, only_old), "the deleted image's own blobs were freed", 30)
    assert time.monotonic() - asked >= grace, "blobs freed before the grace period passed"
    # The shared layer was never deleted (and written again): the same file.
    assert [p.stat().st_ino for p in blob_files(node.blobs_dir, shared.digest)] == [inode]
    r = node.session().get(f"{node.url}/v2/oci/app/manifests/{old.manifest.digest}", timeout=30)
    assert r.status_code == 404
    assert_pulls_whole(skopeo, node, new, "oci/app", "new", tmp_path)
    time.sleep(2)  # a couple more sweeps change nothing
    assert sorted(stored_files(node.blobs_dir)) == sorted(
        str(p.relative_to(node.blobs_dir / "data"))
        for b in content_blobs(new) for p in blob_files(node.blobs_dir, b.digest))
    node.assert_consistent()
    assert not log_problems(node.log_text())
