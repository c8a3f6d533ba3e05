"""Running lifecycle policies (berth.lifecycle.run, .tasks) on SQLite and PostgreSQL, images
pushed into a Registry without HTTP: the run expires what the evaluation selected, in any
batch size, and leaves what changed since; indexes and referrers go with their image; events,
blob links and the evaluation time follow; run_due picks the due policies, page by page."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update

from berth.events import IMAGE_DELETED, Outbox
from berth.jobs.runner import JobContext
from berth.lifecycle import reading, run, tasks
from berth.lifecycle.policy import EXPIRE, parse
from berth.lifecycle.services import LifecycleService
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import lifecycle as rows
from berth.storage.metadata import repositories
from berth.storage.metadata import tags as tag_rows
from berth.storage.metadata.schema import manifests, repository_blobs
from tests.support.registry_images import image_manifest
from tests.support.repositories import pushes_create

NOW, DAY = 1_750_000_000.0, 86400.0
REPO = "team/app"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()  # image_manifest's


@pytest.fixture
def registry(db, tmp_path):
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id=1)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.driver.close()


def policy_text(*rules) -> str:
    """Rules as (status, countType, number[, prefixes[, action]]), or as dicts."""
    out = []
    for priority, spec in enumerate(rules, 1):
        if isinstance(spec, dict):
            out.append({"rulePriority": priority, **spec})
            continue
        status, count_type, number, *more = spec
        action = more[1] if more[1:] else "expire"
        selection = {"tagStatus": status, "countType": count_type, "countNumber": number,
                     **({"tagPrefixList": more[0]} if more else {}),
                     **({"countUnit": "days"} if count_type != "imageCountMoreThan" else {})}
        out.append({"rulePriority": priority, "selection": selection, "action": {
            "type": action, **({"targetStorageClass": "archive"} if action != "expire" else {})}})
    return json.dumps({"rules": out})


def put(reg, body: bytes, media_type: str, tags: list[str], days: float,
        repository: str = REPO) -> str:
    """Store the manifest under each tag (or none), pushed ``days`` before NOW."""
    for tag in tags or [None]:
        digest = str(reg.manifests.put(repository, tag, body, media_type).digest)
    with reg.db.write() as tx:
        tx.execute(update(manifests).where(manifests.c.digest == digest)
                   .values(pushed_at=NOW - days * DAY))
    return digest


def image(reg, tags: list[str], days: float, layer: bytes | None = None,
          subject: str | None = None, repository: str = REPO) -> str:
    """An image of one layer (a referrer of ``subject`` if given), with the shared CONFIG."""
    extra = {} if subject is None else {"artifactType": "application/vnd.example.sig",
                                        "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                                    "size": manifest_size(reg, subject)}}
    body = image_manifest(reg, repository, layer or f"{tags}{days}".encode(), **extra)
    return put(reg, body, OCI_MANIFEST, tags, days, repository)


def manifest_size(reg, digest: str) -> int:
    with reg.db.read() as tx:
        return tx.scalar(select(manifests.c.size).where(manifests.c.digest == digest))


def index(reg, tags: list[str], days: float, *children: str) -> str:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": c, "size": manifest_size(reg, c)}
        for c in children]}).encode()
    return put(reg, body, OCI_INDEX, tags, days)


def repo_id(db, name: str = REPO) -> int:
    with db.read() as tx:
        return repositories.get_id(tx, 1, name)


def stored(db, name: str = REPO) -> set[str]:
    with db.read() as tx:
        return set(tx.scalars(select(manifests.c.digest).where(
            manifests.c.repository_id == repositories.get_id(tx, 1, name))))


def set_policy(db, text: str, name: str = REPO) -> None:
    LifecycleService(db, 1).put_policy(name, text)


def run_now(db, batch: int = run.BATCH, name: str = REPO) -> run.RunReport:
    return run.run_repository(db, 1, repo_id(db, name), name, NOW, batch=batch)


def selected(db, text: str) -> set[str]:
    return {v.image.digest for v in reading.verdicts(db, repo_id(db), parse(text), NOW)
            if v.action == EXPIRE}


def last_event(db) -> int:
    return max([e.id for e in Outbox(db).read(limit=10_000)], default=0)


def paged(monkeypatch, page: int) -> None:
    """The run reads the images ``page`` at a time."""
    monkeypatch.setattr(run, "verdicts",
                        lambda *a, **k: reading.verdicts(*a, **{**k, "page": page}))


def hook(monkeypatch, change) -> None:
    """``change()`` between the evaluation and the run's action."""
    def hooked(*args, **kwargs):
        found = list(reading.verdicts(*args, **kwargs))
        change()
        yield from found
    monkeypatch.setattr(run, "verdicts", hooked)


UNTAGGED = policy_text(("untagged", "sinceImagePushed", 3))
MIXED = policy_text(("tagged", "imageCountMoreThan", 2, ["prod"]),
                    ("untagged", "sinceImagePushed", 3), ("any", "imageCountMoreThan", 12))


@pytest.fixture
def mixed(registry):
    """prod-0..5 (1 to 11 days old), untagged of 1 to 30 days, other-1 (the newest) and
    other-0 (the oldest: the 13th image the any rule counts)."""
    prod = [image(registry, [f"prod-{i}"], 1 + i * 2) for i in range(6)]
    untagged = [image(registry, [], days) for days in (1, 2, 4, 5, 30)]
    other = [image(registry, ["other-1"], 0.5), image(registry, ["other-0"], 45)]
    set_policy(registry.db, MIXED)
    return prod + untagged + other


@pytest.mark.parametrize("batch,page", [(1000, 1000), (2, 1000), (2, 2), (1, 3)])
def test_expires_what_the_evaluation_selects_whatever_the_batch(
        db, mixed, monkeypatch, batch, page):
    expected = selected(db, MIXED)
    assert len(expected) == 8  # prod-2..5, the untagged of 4, 5 and 30 days, other-0
    paged(monkeypatch, page)
    report = run_now(db, batch)
    assert set(report.expired) == expected and len(report.expired) == 8
    assert (report.deleted, report.changed, report.transitioned) == (8, 0, [])
    assert stored(db) == set(mixed) - expected
    assert LifecycleService(db, 1).get_policy(REPO).last_evaluated_at == NOW
    assert run_now(db, batch).expired == []


def test_transitions_archive_and_archived_images_expire(db, registry):
    standard, archived = image(registry, ["dev-1"], 40), image(registry, ["old"], 400)
    with db.write() as tx:
        tx.execute(update(manifests).where(manifests.c.digest == archived)
                   .values(image_status="ARCHIVED", last_archived_at=NOW - 100 * DAY))
    set_policy(db, policy_text(
        ("tagged", "sinceImagePushed", 30, ["dev"], "transition"),
        {"action": {"type": "expire"}, "selection": {
            "tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned",
            "countUnit": "days", "countNumber": 90}}))
    report = run_now(db)
    assert (report.expired, report.transitioned, report.deleted) == ([archived], [standard], 1)
    assert stored(db) == {standard}
    with db.read() as tx:
        assert tx.first(select(manifests.c.image_status, manifests.c.last_archived_at).where(
            manifests.c.digest == standard)) == ("ARCHIVED", NOW)
    assert run_now(db).as_dict()["transitioned"] == []  # archived: left for 90 days


def test_images_changed_since_evaluation_are_left_alone(db, registry, monkeypatch):
    gets_tag, loses_tag = image(registry, [], 10), image(registry, ["old-1"], 11)
    pushed_again, listed = image(registry, [], 12), image(registry, [], 13)
    untouched, newer = image(registry, [], 14), image(registry, ["newer"], 1)
    set_policy(db, policy_text(("untagged", "sinceImagePushed", 3),
                               ("tagged", "sinceImagePushed", 5, ["old"])))
    repo, made = repo_id(db), []

    def change():  # pushes: tag one, move the other's tag away, push one again, list one
        with db.write() as tx:
            tag_rows.put(tx, repo, "keep", gets_tag)
            tag_rows.put(tx, repo, "old-1", newer)
            tx.execute(update(manifests).where(manifests.c.digest == pushed_again)
                       .values(pushed_at=NOW))
        made.append(index(registry, ["multi"], 0, listed))

    hook(monkeypatch, change)
    report = run_now(db, batch=2)
    assert (report.expired, report.changed) == ([untouched], 4)
    assert stored(db) == {gets_tag, loses_tag, pushed_again, listed, newer, *made}


def test_an_index_goes_with_the_children_nothing_else_keeps(db, registry):
    only_here = image(registry, [], 1, b"only-here")
    tagged = image(registry, ["child-tag"], 1, b"tagged")
    shared = image(registry, [], 1, b"shared")
    expired = index(registry, [], 10, only_here, tagged, shared)
    keeper = index(registry, ["keep"], 2, shared)
    plain = image(registry, ["plain"], 3)
    # Were the (newest) children counted, the keeper and the plain image would go too.
    text = policy_text(("any", "imageCountMoreThan", 2))
    assert selected(db, text) == {expired}
    set_policy(db, text)
    report = run_now(db)
    assert (report.expired, report.deleted, report.changed) == ([expired], 2, 0)
    assert stored(db) == {tagged, shared, keeper, plain}
    with db.read() as tx:
        assert tag_rows.get_digest(tx, repo_id(db), "child-tag") == tagged


@pytest.mark.parametrize("page", [1000, 2])
def test_the_child_an_expired_index_leaves_is_not_an_image_of_the_same_run(
        db, registry, monkeypatch, page):
    """The run acts on what its evaluation (and the preview) saw: a tagged child, top-level
    once its index was deleted on an earlier page, is neither counted nor judged in this
    run, whatever the page size (the next run sees it as an image)."""
    child = image(registry, ["v-child"], 20, b"child")
    expired = index(registry, [], 5, child)
    newest, oldest = image(registry, ["v-1"], 6, b"v1"), image(registry, ["v-2"], 25, b"v2")
    text = policy_text(("untagged", "sinceImagePushed", 1),
                       ("tagged", "imageCountMoreThan", 2, ["v"]))
    assert selected(db, text) == {expired}
    set_policy(db, text)
    paged(monkeypatch, page)
    names = {expired: "index", child: "child", newest: "v-1", oldest: "v-2"}
    assert [names[d] for d in run_now(db, batch=1).expired] == ["index"]
    assert stored(db) == {child, newest, oldest}


def test_referrers_go_with_their_image_and_each_deletion_is_an_event(db, registry):
    child = image(registry, [], 11)
    top = index(registry, [], 10, child)
    signature = image(registry, [], 9, b"sig", subject=top)
    tagged = image(registry, ["gone-1", "gone-2"], 20)
    tagged_signature = image(registry, [], 19, b"sig-2", subject=tagged)
    kept = image(registry, ["stays"], 1)
    kept_signature = image(registry, [], 7, b"sig-3", subject=kept)
    set_policy(db, policy_text(("untagged", "sinceImagePushed", 3),
                               ("tagged", "sinceImagePushed", 5, ["gone"])))
    before = last_event(db)
    report = run_now(db)
    assert set(report.expired) == {top, tagged} and report.deleted == 5
    assert stored(db) == {kept, kept_signature}
    events = [e for e in Outbox(db).read(after=before) if e.kind == IMAGE_DELETED]
    assert sorted(e.payload["digest"] for e in events) == sorted(
        [child, top, signature, tagged, tagged_signature])
    assert {(e.registry_id, e.repository) for e in events} == {(1, REPO)}
    by_digest = {e.payload["digest"]: e.payload for e in events}
    assert sorted(by_digest[tagged]["tags"]) == ["gone-1", "gone-2"]
    assert by_digest[child]["tags"] == []


def test_blob_links_only_expired_images_used_start_their_wait(db, registry):
    expired = image(registry, [], 10, b"expired-layer")  # CONFIG: shared with the kept one
    image(registry, ["kept"], 10, b"kept-layer")
    with db.write() as tx:  # as a sweep leaves links that manifests list
        tx.execute(update(repository_blobs).values(unreferenced_since=None))
    set_policy(db, UNTAGGED)
    assert run_now(db).expired == [expired]
    with db.read() as tx:
        waits = dict(tx.all(select(repository_blobs.c.digest,
                                   repository_blobs.c.unreferenced_since)))
    assert waits[str(Digest.of(b"expired-layer"))] is not None
    for kept in (b"kept-layer", CONFIG):
        assert waits[str(Digest.of(kept))] is None


def test_a_policy_replaced_during_the_run_is_not_marked(db, registry, monkeypatch):
    image(registry, [], 10)
    set_policy(db, UNTAGGED)
    replacement = policy_text(("untagged", "sinceImagePushed", 30))
    hook(monkeypatch, lambda: set_policy(db, replacement))
    assert len(run_now(db).expired) == 1  # the policy the run read
    found = LifecycleService(db, 1).get_policy(REPO)
    assert (found.text, found.last_evaluated_at) == (replacement, None)


def test_a_cancelled_run_stops_between_batches(db, mixed):
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(InterruptedError):
        run.run_repository(db, 1, repo_id(db), REPO, NOW, cancelled, batch=2)
    assert len(stored(db)) == len(mixed) - 2  # one batch went
    assert LifecycleService(db, 1).get_policy(REPO).last_evaluated_at is None
    job = JobContext("id", tasks.RUN_JOB, {}, 1)
    job.cancelled.set()
    with pytest.raises(InterruptedError):
        tasks.run_due(db, 3600.0, now=NOW, job=job)
    assert len(stored(db)) == len(mixed) - 2


# -- tasks.run_due ----------------------------------------------------------------------------

INTERVAL = 3600.0


def repository(registry, name: str, policy: bool = True, evaluated: float | None = None) -> str:
    """A repository with one expirable image; the digest."""
    digest = image(registry, [], 10, name.encode(), repository=name)
    if policy:
        set_policy(registry.db, UNTAGGED, name)
    if evaluated is not None:
        repo = repo_id(registry.db, name)
        with registry.db.write() as tx:
            rows.mark_evaluated(tx, repo, UNTAGGED, evaluated)
    return digest


def test_run_due_runs_only_the_policies_that_are_due(db, registry):
    """... of every registry, each as its registry's."""
    pushes_create(db, 2)
    image(registry.scoped(2), [], 10, b"other", repository="elsewhere")
    LifecycleService(db, 2).put_policy("elsewhere", UNTAGGED)
    repository(registry, "never-run")
    repository(registry, "ran-long-ago", evaluated=NOW - INTERVAL - 1)
    recent = repository(registry, "ran-recently", evaluated=NOW - INTERVAL + 1)
    no_policy = repository(registry, "no-policy", policy=False)
    before = last_event(db)
    reports = tasks.run_due(db, INTERVAL, now=NOW)
    assert sorted(r.repository for r in reports) == ["elsewhere", "never-run", "ran-long-ago"]
    assert all(len(r.expired) == 1 for r in reports)
    assert sorted((e.registry_id, e.repository) for e in Outbox(db).read(after=before)
                  if e.kind == IMAGE_DELETED) == [(1, "never-run"), (1, "ran-long-ago"),
                                                  (2, "elsewhere")]
    assert stored(db, "ran-recently") == {recent} and stored(db, "no-policy") == {no_policy}
    service = LifecycleService(db, 1)
    assert service.get_policy("never-run").last_evaluated_at == NOW
    assert service.get_policy("ran-recently").last_evaluated_at == NOW - INTERVAL + 1
    assert tasks.run_due(db, INTERVAL, now=NOW + 1) == []


@pytest.mark.parametrize("count", [4, 5])
def test_run_due_pages_over_the_repositories(db, registry, monkeypatch, count):
    monkeypatch.setattr(tasks, "PAGE", 2)
    names = [f"repo-{i}" for i in range(count)]
    for name in names:
        repository(registry, name)
    assert sorted(r.repository for r in tasks.run_due(db, INTERVAL, now=NOW)) == names
    assert all(stored(db, name) == set() for name in names)
