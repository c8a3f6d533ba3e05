"""LifecycleService (berth.lifecycle.services) on SQLite and PostgreSQL, images pushed into a
Registry without HTTP: policies, previews started as queued jobs, their computation, paging
and filters, and a preview replaced while its job runs."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from berth.lifecycle import services as lifecycle_services
from berth.lifecycle.errors import (
    PolicyInvalid,
    PolicyNotFound,
    PreviewInProgress,
    PreviewNotFound,
)
from berth.lifecycle.services import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    PREVIEW_JOB,
    STALE_PREVIEW_SECONDS,
    LifecycleService,
)
from berth.registry.errors import NameUnknown
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.registry import Registry
from tests.support.repositories import make_repository, pushes_create
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import lifecycle as rows
from berth.storage.metadata import repositories
from berth.storage.metadata.schema import jobs, manifests
from tests.support.registry_images import image_manifest

NOW, DAY = 1_750_000_000.0, 86400.0
REPO = "team/app"


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(db, tmp_path):
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id=1)
    pushes_create(reg.db, reg.registry_id)
    with db.write() as tx:
        make_repository(tx, 1, REPO)
    yield reg
    reg.driver.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(db, registry, clock):
    return LifecycleService(db, 1, clock=clock)


def repo_id(db, name: str = REPO) -> int:
    with db.read() as tx:
        return repositories.get_id(tx, 1, name)


def preview_row(db):
    with db.read() as tx:
        return rows.preview(tx, repositories.get_id(tx, 1, REPO))


def rule(priority, status, count_type, number, prefixes=None, action="expire", storage=None):
    selection = {"tagStatus": status, "countType": count_type, "countNumber": number,
                 **({"tagPrefixList": prefixes} if prefixes else {}),
                 **({"countUnit": "days"} if count_type != "imageCountMoreThan" else {}),
                 **({"storageClass": storage} if storage else {})}
    return {"rulePriority": priority, "selection": selection, "action": {
        "type": action, **({"targetStorageClass": "archive"} if action != "expire" else {})}}


def policy_text(*rules) -> str:
    return json.dumps({"rules": list(rules)})


SIMPLE = policy_text(rule(1, "untagged", "sinceImagePushed", 1))
OTHER = policy_text(rule(1, "any", "imageCountMoreThan", 5))


def push(reg, tags: list[str], layer: bytes, days: float, **state) -> str:
    """An image with ``tags`` (or none), pushed ``days`` before NOW; ``state`` sets columns."""
    body = image_manifest(reg, REPO, layer)
    digest = str(reg.manifests.put(REPO, tags[0] if tags else None, body, OCI_MANIFEST).digest)
    for tag in tags[1:]:
        reg.manifests.put(REPO, tag, body, OCI_MANIFEST)
    with reg.db.write() as tx:
        tx.execute(update(manifests).where(manifests.c.digest == digest)
                   .values(pushed_at=NOW - days * DAY, **state))
    return digest


def queued_jobs(db) -> list:
    with db.read() as tx:
        return tx.all(select(jobs.c.kind, jobs.c.payload, jobs.c.state, jobs.c.max_attempts)
                      .order_by(jobs.c.created_at))


# -- policies ---------------------------------------------------------------------------------

def test_put_get_delete_policy(service):
    with pytest.raises(PolicyNotFound):
        service.get_policy(REPO)
    assert [r.priority for r in service.put_policy(REPO, SIMPLE).rules] == [1]
    stored = service.get_policy(REPO)
    assert (stored.text, stored.last_evaluated_at) == (SIMPLE, None)
    service.put_policy(REPO, OTHER)  # replaces
    assert service.get_policy(REPO).text == OTHER
    assert service.delete_policy(REPO).text == OTHER
    with pytest.raises(PolicyNotFound):
        service.get_policy(REPO)
    with pytest.raises(PolicyNotFound):
        service.delete_policy(REPO)


@pytest.mark.parametrize("text", ["not json", "[]", '{"rules": [{}]}',
                                  policy_text(rule(1, "tagged", "imageCountMoreThan", 1))])
def test_an_invalid_policy_is_never_stored(service, text):
    with pytest.raises(PolicyInvalid):
        service.put_policy(REPO, text)
    with pytest.raises(PolicyNotFound):
        service.get_policy(REPO)
    service.put_policy(REPO, SIMPLE)
    with pytest.raises(PolicyInvalid):
        service.put_policy(REPO, text)
    assert service.get_policy(REPO).text == SIMPLE  # the stored one is kept


def test_an_unknown_repository_is_name_unknown(service):
    for call in (lambda: service.put_policy("team/none", SIMPLE),
                 lambda: service.get_policy("team/none"),
                 lambda: service.delete_policy("team/none"),
                 lambda: service.start_preview("team/none", SIMPLE),
                 lambda: service.preview("team/none")):
        with pytest.raises(NameUnknown):
            call()


# -- starting a preview -----------------------------------------------------------------------

def test_start_preview_stores_in_progress_and_queues_its_job(db, service, clock):
    with pytest.raises(PreviewNotFound):
        service.preview(REPO)
    assert service.start_preview(REPO, SIMPLE, as_of=NOW - 5) == (SIMPLE, IN_PROGRESS)
    row = preview_row(db)
    assert (row.text, row.status, row.as_of, row.started_at) == (SIMPLE, IN_PROGRESS,
                                                                 NOW - 5, NOW)
    [job] = queued_jobs(db)
    assert (job.kind, job.state, job.max_attempts) == (PREVIEW_JOB, "queued", 3)
    assert json.loads(job.payload) == {"repositoryId": repo_id(db), "startedAt": NOW}
    seen = service.preview(REPO)
    assert (seen.status, seen.results, seen.next_position) == (IN_PROGRESS, [], None)


def test_a_second_preview_waits_unless_the_first_is_stale(db, service, clock):
    service.start_preview(REPO, SIMPLE)
    clock.now += STALE_PREVIEW_SECONDS - 1
    with pytest.raises(PreviewInProgress):
        service.start_preview(REPO, OTHER)
    assert len(queued_jobs(db)) == 1
    clock.now += 2  # the first lost its job: replaced
    assert service.start_preview(REPO, OTHER) == (OTHER, IN_PROGRESS)
    row = preview_row(db)
    assert (row.text, row.started_at) == (OTHER, clock.now)
    assert len(queued_jobs(db)) == 2
    service.compute_preview(repo_id(db), clock.now)
    clock.now += 1  # a finished preview is replaced at once
    service.start_preview(REPO, SIMPLE)
    assert (preview_row(db).text, preview_row(db).status) == (SIMPLE, IN_PROGRESS)


def test_start_preview_of_the_stored_policy(db, service):
    with pytest.raises(PolicyNotFound):
        service.start_preview(REPO)
    with pytest.raises(PolicyInvalid):
        service.start_preview(REPO, "{}")
    assert queued_jobs(db) == []
    service.put_policy(REPO, OTHER)
    assert service.start_preview(REPO) == (OTHER, IN_PROGRESS)
    assert service.preview(REPO).text == OTHER


# -- computing and reading a preview ------------------------------------------------------------

PREVIEWED = policy_text(rule(1, "tagged", "imageCountMoreThan", 1, ["prod"]),
                        rule(2, "untagged", "sinceImagePushed", 1),
                        rule(3, "tagged", "sinceImagePushed", 30, ["dev"], "transition"),
                        rule(4, "any", "sinceImageTransitioned", 90, storage="archive"))


@pytest.fixture
def images(registry):
    """name -> digest; what PREVIEWED does to them is in ``test_compute_preview``."""
    reg = registry
    return {
        "fresh": push(reg, [], b"fresh", 0.5),             # untagged, not a day old
        "prod3": push(reg, ["prod-3"], b"prod3", 1),        # newest prod: kept
        "untagged": push(reg, [], b"untagged", 2),
        "prod2": push(reg, ["prod-2", "latest"], b"prod2", 3),
        "dev": push(reg, ["dev-1"], b"dev", 40),
        "prod1": push(reg, ["prod-1"], b"prod1", 50),
        "archived": push(reg, ["old"], b"archived", 300, image_status="ARCHIVED",
                         last_archived_at=NOW - 100 * DAY),
    }


def computed(db, service, **query):
    service.start_preview(REPO, PREVIEWED)
    service.compute_preview(repo_id(db), NOW)
    return service.preview(REPO, **query)


def test_compute_preview(db, service, images, clock):
    clock.now += 7  # when it finishes
    service.start_preview(REPO, PREVIEWED, as_of=NOW)
    service.compute_preview(repo_id(db), NOW + 7)
    seen = service.preview(REPO)
    assert (seen.text, seen.status, seen.as_of) == (PREVIEWED, COMPLETE, NOW)
    assert (seen.expiring, seen.transitioning, seen.next_position) == (4, 1, None)
    got = [(r.digest, r.tags, r.pushed_at, r.action, r.priority, r.storage_class, r.target)
           for r in seen.results]
    assert got == [
        (images["untagged"], [], NOW - 2 * DAY, "EXPIRE", 2, "STANDARD", None),
        (images["prod2"], ["latest", "prod-2"], NOW - 3 * DAY, "EXPIRE", 1, "STANDARD", None),
        (images["dev"], ["dev-1"], NOW - 40 * DAY, "TRANSITION", 3, "STANDARD", "ARCHIVE"),
        (images["prod1"], ["prod-1"], NOW - 50 * DAY, "EXPIRE", 1, "STANDARD", None),
        (images["archived"], ["old"], NOW - 300 * DAY, "EXPIRE", 4, "ARCHIVE", None),
    ]
    row = preview_row(db)
    assert row.finished_at == NOW + 7
    # The job again (a retry after its completion was lost): nothing changes, no duplicates.
    service.compute_preview(repo_id(db), NOW + 7)
    assert service.preview(REPO).results == seen.results


def test_preview_as_of_a_later_time(db, service, images):
    service.start_preview(REPO, PREVIEWED, as_of=NOW + DAY)
    service.compute_preview(repo_id(db), NOW)
    assert images["fresh"] in [r.digest for r in service.preview(REPO).results]


def test_preview_pages(db, service, images):
    every = [r.digest for r in computed(db, service).results]
    pages, after = [], 0
    while True:
        page = service.preview(REPO, after=after, limit=2)
        pages.append([r.digest for r in page.results])
        if page.next_position is None:
            break
        after = page.next_position
    assert pages == [every[0:2], every[2:4], every[4:]]
    exact = service.preview(REPO, limit=5)
    assert len(exact.results) == 5 and exact.next_position is None


def test_preview_tagged_filter(db, service, images):
    computed(db, service)
    tagged = service.preview(REPO, tagged=True)
    assert [r.digest for r in tagged.results] == [images[n] for n in
                                                  ("prod2", "dev", "prod1", "archived")]
    untagged = service.preview(REPO, tagged=False)
    assert [r.digest for r in untagged.results] == [images["untagged"]]
    page = service.preview(REPO, tagged=True, limit=3)
    assert len(page.results) == 3 and page.next_position is not None
    rest = service.preview(REPO, tagged=True, after=page.next_position, limit=3)
    assert [r.digest for r in rest.results] == [images["archived"]]
    assert rest.next_position is None


def test_preview_digest_and_tag_filters(db, service, images):
    computed(db, service)

    def digests(**query):
        return [r.digest for r in service.preview(REPO, **query).results]

    assert digests(digests=[images["prod1"]]) == [images["prod1"]]
    assert digests(tags=["latest"]) == [images["prod2"]]
    assert digests(digests=[images["prod1"]], tags=["dev-1"]) == [images["dev"],
                                                                   images["prod1"]]
    assert digests(tags=["prod-3"]) == []  # a kept image
    assert digests(tags=["nothing"]) == []
    assert digests(digests=[]) == []


def test_a_preview_replaced_meanwhile_is_not_overwritten(db, service, images, clock,
                                                         monkeypatch):
    """The old job evaluates while a newer preview replaces its row: finish_preview (guarded
    by started_at) leaves the new one alone, and no result of the old one is stored."""
    service.start_preview(REPO, PREVIEWED)
    real = lifecycle_services.verdicts

    def replaced_meanwhile(*args, **kwargs):
        newer = LifecycleService(db, 1, clock=lambda: NOW + STALE_PREVIEW_SECONDS + 1)
        newer.start_preview(REPO, SIMPLE)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(lifecycle_services, "verdicts", replaced_meanwhile)
    service.compute_preview(repo_id(db), NOW)
    monkeypatch.setattr(lifecycle_services, "verdicts", real)
    seen = service.preview(REPO)
    assert (seen.text, seen.status, seen.results, seen.expiring) == (SIMPLE, IN_PROGRESS,
                                                                     [], 0)
    # The old job run again finds it replaced before evaluating; the new job completes.
    service.compute_preview(repo_id(db), NOW)
    assert service.preview(REPO).status == IN_PROGRESS
    service.compute_preview(repo_id(db), NOW + STALE_PREVIEW_SECONDS + 1)
    seen = service.preview(REPO)
    assert seen.status == COMPLETE
    assert [r.digest for r in seen.results] == [images["untagged"]]


def test_fail_preview_is_guarded_too(db, service, clock):
    service.start_preview(REPO, SIMPLE)
    service.fail_preview(repo_id(db), NOW - 1, "RuntimeError: not this one")
    assert service.preview(REPO).status == IN_PROGRESS
    service.fail_preview(repo_id(db), NOW, "RuntimeError: " + "x" * 600)
    assert service.preview(REPO).status == FAILED
    assert len(preview_row(db).error) == 500
    service.compute_preview(repo_id(db), NOW)  # a failed preview is not computed after all
    assert service.preview(REPO).status == FAILED
