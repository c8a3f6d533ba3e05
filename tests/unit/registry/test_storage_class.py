"""ECR's archive storage class (berth.registry.images.storage_class) on SQLite and PostgreSQL,
images pushed into a Registry without HTTP: an image is archived with the children only its
index lists and its referrers, and restored through ACTIVATING by the image-restore job; a
listed child, an image being restored and an unknown image are refused; archived manifests
are not pulled (OCI fetch, BatchGetImage) but are described and listed by imageStatus."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import select

from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobContext, JobRunner
from berth.lifecycle import reading, run
from berth.lifecycle.services import LifecycleService
from berth.registry.errors import ImageArchived, ManifestUnknown
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.images.service import ImageId, ImageNotFound
from berth.registry.images.storage_class import ARCHIVE, RESTORE_JOB, STANDARD
from berth.registry.images.storage_class import (
    StorageClassUpdateUnsupported as Unsupported,
)
from berth.registry.tasks import handle_restores
from berth.storage.metadata import manifests as manifest_rows
from berth.storage.metadata import repositories
from berth.storage.metadata.schema import jobs, manifests
from tests.support.registry_images import image_manifest, push_image

REPO = "team/app"


# -- pushing, as clients do, without HTTP ----------------------------------------------------
def image(reg, tag: str | None, layer: bytes, subject: str | None = None) -> str:
    extra = {} if subject is None else {"artifactType": "application/vnd.example.sig",
                                        "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                                    "size": _size(reg, subject)}}
    body = image_manifest(reg, REPO, layer, **extra)
    return str(reg.manifests.put(REPO, tag, body, OCI_MANIFEST).digest)


def index(reg, tag: str | None, *children: str) -> str:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": c, "size": _size(reg, c)}
        for c in children]}).encode()
    return str(reg.manifests.put(REPO, tag, body, OCI_INDEX).digest)


def _size(reg, digest: str) -> int:
    with reg.db.read() as tx:
        return tx.scalar(select(manifests.c.size).where(manifests.c.digest == digest))


def states(reg) -> dict[str, tuple]:
    """digest -> (image status, last archived at, last activated at)."""
    m = manifests.c
    with reg.db.read() as tx:
        return {r.digest: (r.image_status, r.last_archived_at, r.last_activated_at) for r in tx.all(
            select(m.digest, m.image_status, m.last_archived_at, m.last_activated_at))}


def status(reg) -> dict[str, str]:
    return {d: s[0] for d, s in states(reg).items()}


def update(reg, target: str, tag: str | None = None, digest: str | None = None):
    return reg.image_storage.update(REPO, ImageId(digest, tag), target)


def restore_jobs(reg) -> list:
    with reg.db.read() as tx:
        return tx.all(select(jobs.c.id, jobs.c.payload, jobs.c.state)
                      .where(jobs.c.kind == RESTORE_JOB))


def run_restores(reg) -> int:
    """Claim and run the queued image-restore jobs as a node's runner does."""
    runner = JobRunner(JobQueue(reg.db))
    handle_restores(runner, reg.db)
    claimed = runner.queue.claim(runner.worker, [RESTORE_JOB], 100, 60)
    for job in claimed:
        runner.execute(job, JobContext(job.id, job.kind, job.payload, job.attempt))
    return len(claimed)


def fetch(reg, reference: str, with_content: bool = True):
    return asyncio.run(reg.manifests.fetch(REPO, reference, with_content=with_content))


@pytest.fixture
def tree(registry) -> dict[str, str]:
    """An index "multi" listing: a (untagged, with a referrer), b (tagged "b", with a
    referrer) and shared (untagged, listed by the index "other" too); a referrer of the index;
    and a plain image "solo"."""
    reg, t = registry, {}
    t["a"], t["b"] = image(reg, None, b"a"), image(reg, "b", b"b")
    t["shared"] = image(reg, None, b"shared")
    t["on_a"], t["on_b"] = image(reg, None, b"sig-a", t["a"]), image(reg, None, b"sig-b", t["b"])
    t["multi"] = index(reg, "multi", t["a"], t["b"], t["shared"])
    t["other"] = index(reg, "other", t["shared"])
    t["on_multi"] = image(reg, None, b"sig-multi", t["multi"])
    t["solo"] = image(reg, "solo", b"solo")
    return t


MOVES = ("multi", "a", "on_a", "on_multi")  # what archiving "multi" takes


def test_an_index_moves_with_its_own_children_and_referrers(registry, tree):
    before = time.time()
    assert update(registry, ARCHIVE, tag="multi") == (tree["multi"], "ARCHIVED")
    after = time.time()
    found = states(registry)
    for name, digest in tree.items():
        moved = name in MOVES
        assert found[digest][0] == ("ARCHIVED" if moved else "ACTIVE"), name
        assert (found[digest][1] is not None) == moved, name
    assert len({found[tree[n]][1] for n in MOVES}) == 1  # one move, one time
    assert before <= found[tree["multi"]][1] <= after
    assert not restore_jobs(registry)


def test_restore_goes_through_activating_and_the_job(registry, tree):
    update(registry, ARCHIVE, digest=tree["multi"])
    archived_at = states(registry)[tree["multi"]][1]
    assert update(registry, STANDARD, tag="multi") == (tree["multi"], "ACTIVATING")
    assert {n for n, d in tree.items() if status(registry)[d] == "ACTIVATING"} == set(MOVES)
    [job] = restore_jobs(registry)
    assert set(json.loads(job.payload)["digests"]) == {tree[n] for n in MOVES}
    with pytest.raises(ImageArchived):  # not pullable until the job has run
        fetch(registry, "multi")
    before = time.time()
    assert run_restores(registry) == 1
    assert restore_jobs(registry)[0].state == "done"
    found = states(registry)
    for name in MOVES:
        assert found[tree[name]][0] == "ACTIVE", name
        assert found[tree[name]][1] == archived_at, name  # when it was last archived, kept
        assert before <= found[tree[name]][2] <= time.time(), name
    assert found[tree["solo"]][2] is None
    assert fetch(registry, "multi").digest == tree["multi"]
    assert run_restores(registry) == 0


def test_updates_to_where_an_image_is_already_change_nothing(registry, tree):
    assert update(registry, STANDARD, tag="solo") == (tree["solo"], "ACTIVE")
    assert not restore_jobs(registry)
    update(registry, ARCHIVE, tag="solo")
    first = states(registry)
    assert update(registry, ARCHIVE, tag="solo") == (tree["solo"], "ARCHIVED")
    assert states(registry) == first  # last_archived_at kept
    update(registry, STANDARD, tag="solo")
    assert update(registry, STANDARD, digest=tree["solo"]) == (tree["solo"], "ACTIVATING")
    assert len(restore_jobs(registry)) == 1
    update(registry, ARCHIVE, digest=tree["on_multi"])  # a referrer, archived alone first
    alone = states(registry)[tree["on_multi"]]
    time.sleep(0.01)
    update(registry, ARCHIVE, tag="multi")
    assert states(registry)[tree["on_multi"]] == alone  # not archived again with its subject


def test_archive_while_activating_is_refused(registry, tree):
    update(registry, ARCHIVE, tag="multi")
    update(registry, STANDARD, tag="multi")
    with pytest.raises(Unsupported):
        update(registry, ARCHIVE, tag="multi")
    assert status(registry)[tree["multi"]] == "ACTIVATING"
    run_restores(registry)
    assert update(registry, ARCHIVE, tag="multi") == (tree["multi"], "ARCHIVED")


@pytest.mark.parametrize("child", ["a", "b", "shared"])
def test_a_manifest_an_index_lists_does_not_move_alone(registry, tree, child):
    with pytest.raises(Unsupported) as caught:
        update(registry, ARCHIVE, digest=tree[child])
    assert caught.value.detail["digest"] == tree[child]
    assert set(status(registry).values()) == {"ACTIVE"}
    if child == "a":  # archived with its index: not restored alone either
        update(registry, ARCHIVE, tag="multi")
        with pytest.raises(Unsupported):
            update(registry, STANDARD, digest=tree["a"])
        assert status(registry)[tree["a"]] == "ARCHIVED" and not restore_jobs(registry)


def test_unknown_images_are_not_found(registry, tree):
    missing = "sha256:" + "0" * 64
    for image_id in (ImageId(tag="nope"), ImageId(missing), ImageId(tree["a"], "solo"),
                     ImageId()):
        with pytest.raises(ImageNotFound):
            registry.image_storage.update(REPO, image_id, ARCHIVE)
    assert set(status(registry).values()) == {"ACTIVE"}


def test_archived_and_activating_manifests_are_not_pulled(registry, tree):
    update(registry, ARCHIVE, tag="multi")
    for reference in ("multi", tree["multi"], tree["a"], tree["on_multi"]):
        for content in (True, False):  # GET and HEAD
            with pytest.raises(ImageArchived) as caught:
                fetch(registry, reference, content)
            assert isinstance(caught.value, ManifestUnknown)  # OCI's MANIFEST_UNKNOWN
    for name in ("b", "shared", "other", "solo"):
        assert fetch(registry, tree[name]).digest == tree[name]
    update(registry, STANDARD, tag="multi")
    with pytest.raises(ImageArchived):
        fetch(registry, tree["a"])
    run_restores(registry)
    assert fetch(registry, tree["a"]).digest == tree["a"]


def test_batch_get_answers_archived_images_as_inaccessible(registry, tree):
    update(registry, ARCHIVE, tag="solo")
    update(registry, ARCHIVE, tag="multi")
    update(registry, STANDARD, tag="multi")  # ACTIVATING
    ids = [ImageId(tag="solo"), ImageId(tree["a"]), ImageId(tag="multi"), ImageId(tag="b")]
    images, failures = registry.images.batch_get(REPO, ids, None)
    assert [(i.digest, i.tag) for i, _, _ in images] == [(tree["b"], "b")]
    assert [(f.image_id, f.code) for f in failures] == [(i, "ImageInaccessible")
                                                         for i in ids[:3]]
    assert "archived" in failures[0].reason


def _listed(registry, image_status: str, tag_status: str = "ANY") -> set:
    ids, more = registry.images.list_ids(REPO, tag_status, None, 100, image_status)
    assert not more
    return {(i.digest, i.tag) for i in ids}


def test_describe_and_list_filter_by_image_status(registry, tree):
    update(registry, ARCHIVE, tag="solo")
    update(registry, ARCHIVE, tag="multi")
    update(registry, STANDARD, tag="solo")
    names = {d: n for n, d in tree.items()}
    wanted = {"ACTIVE": set(tree) - set(MOVES) - {"solo"}, "ARCHIVED": set(MOVES),
              "ACTIVATING": {"solo"}, "ANY": set(tree)}
    for image_status, expected in wanted.items():
        page, more = registry.images.describe_page(REPO, "ANY", None, 100, image_status)
        assert {names[d.digest] for d in page} == expected and not more, image_status
        assert {names[d] for d, _ in _listed(registry, image_status)} == expected
    assert {d: tags for d, tags in _listed(registry, "ARCHIVED", "TAGGED")} == {
        tree["multi"]: "multi"}
    assert {names[d] for d, _ in _listed(registry, "ARCHIVED", "UNTAGGED")} == {
        "a", "on_a", "on_multi"}
    page, _ = registry.images.describe_page(REPO, "ANY", None, 100, "ANY")
    shown = {names[d.digest]: d for d in page}
    at = states(registry)
    assert shown["multi"].status == "ARCHIVED" and shown["solo"].status == "ACTIVATING"
    assert shown["multi"].last_archived_at == at[tree["multi"]][1] is not None
    assert shown["solo"].last_archived_at == at[tree["solo"]][1] is not None
    assert shown["b"].last_archived_at is None and shown["b"].status == "ACTIVE"
    run_restores(registry)
    [solo] = registry.images.describe(REPO, [ImageId(tag="solo")])
    assert solo.status == "ACTIVE" and solo.last_activated_at == states(registry)[
        tree["solo"]][2] is not None
    [multi] = registry.images.describe(REPO, [ImageId(tag="multi")])  # by id: whatever status
    assert multi.status == "ARCHIVED" and multi.tags == ["multi"]


@pytest.mark.parametrize("image_status", ["ARCHIVED", "ACTIVE"])
def test_pages_stay_within_the_image_status(registry, tree, image_status):
    update(registry, ARCHIVE, tag="multi")
    expected = {d for d, s in status(registry).items() if s == image_status}
    seen, listed, after, cursor, more = [], [], None, None, True
    while more:  # a page of one image at a time
        page, more = registry.images.describe_page(REPO, "ANY", after, 1, image_status)
        seen += [d.digest for d in page]
        after = page[-1].digest
    assert seen == sorted(expected)
    more = True
    while more:
        ids, more = registry.images.list_ids(REPO, "ANY", cursor, 2, image_status)
        listed += [(i.digest, i.tag) for i in ids]
        cursor = (ids[-1].digest, ids[-1].tag or "")
    assert listed == sorted(_listed(registry, image_status), key=lambda x: (x[0], x[1] or ""))
    assert {d for d, _ in listed} == expected


@pytest.mark.parametrize("since", ["listed by a new index", "tagged"])
def test_restoring_an_index_restores_the_children_archived_with_it(registry, tree, since):
    update(registry, ARCHIVE, tag="multi")
    assert status(registry)[tree["a"]] == "ARCHIVED"
    if since == "tagged":  # the archived child pushed again under a tag
        registry.manifests.put(REPO, "a", image_manifest(registry, REPO, b"a"), OCI_MANIFEST)
    else:
        index(registry, "newer", tree["a"])
    update(registry, STANDARD, tag="multi")
    run_restores(registry)
    # Whatever changed around it, the child went with the index and must come back with it:
    # it cannot be restored alone (an index lists it), so nothing else could bring it back.
    assert status(registry)[tree["a"]] == "ACTIVE"
    assert fetch(registry, tree["a"]).digest == tree["a"]


def test_a_transition_leaves_an_image_an_index_listed_since_evaluation(registry, monkeypatch):
    """An index listing it pushed after the evaluation: left, as an expiry leaves it (else an
    ACTIVE index lists an archived child that neither it nor the child can restore)."""
    old, other = image(registry, "old-1", b"old-1"), image(registry, "old-2", b"old-2")
    with registry.db.write() as tx:
        tx.execute(manifests.update().values(pushed_at=time.time() - 40 * 86400))
    selection = {"tagStatus": "tagged", "tagPrefixList": ["old"], "countNumber": 30,
                 "countType": "sinceImagePushed", "countUnit": "days"}
    LifecycleService(registry.db, 1).put_policy(REPO, json.dumps({"rules": [{
        "rulePriority": 1, "selection": selection,
        "action": {"type": "transition", "targetStorageClass": "archive"}}]}))

    def hooked(*args, **kwargs):
        found = list(reading.verdicts(*args, **kwargs))
        index(registry, "multi", old)
        yield from found

    monkeypatch.setattr(run, "verdicts", hooked)
    with registry.db.read() as tx:
        repo = repositories.get_id(tx, 1, REPO)
    report = run.run_repository(registry.db, 1, repo, REPO, time.time())
    assert (report.transitioned, report.changed) == ([other], 1)
    assert status(registry)[other] == "ARCHIVED" and status(registry)[old] == "ACTIVE"


def test_pushing_an_archived_image_again_restores_it(registry):
    digest = str(push_image(registry, "team/app", "v1"))
    registry.image_storage.update("team/app", ImageId(tag="v1"), ARCHIVE)
    with pytest.raises(ImageArchived):
        asyncio.run(registry.manifests.fetch("team/app", "v1"))
    push_image(registry, "team/app", "v1")  # the same manifest again
    assert asyncio.run(registry.manifests.fetch("team/app", "v1")).digest == digest
    with registry.db.read() as tx:
        repo_id = repositories.get_id(tx, registry.registry_id, "team/app")
        assert manifest_rows.image_status(tx, repo_id, digest) == "ACTIVE"
