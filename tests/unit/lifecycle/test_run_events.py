"""A lifecycle run's actions as events: each expiry and each transition to the archive is a
``lifecycle.acted`` event in the transaction that takes it (beside its audit record), the
expiry's deletion still its image.deleted; a webhook target of the account whose pattern names
"ECR Lifecycle Policy Action" gets one per action, with the rule's priority."""
from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import update

from berth.events import IMAGE_DELETED, LIFECYCLE_ACTED, Outbox
from berth.iam.identities import IdentityService
from berth.keys.master import MasterKey
from berth.lifecycle import run
from berth.lifecycle.services import LifecycleService
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories
from berth.storage.metadata.schema import manifests
from tests.support.notifications import delivered, watch
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create

ACCOUNT, REGION, REPO = "123456789012", "us-west-2", "team/app"
NOW, DAY = 1_750_000_000.0, 86400.0
ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
POLICY = json.dumps({"rules": [
    {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["dev"],
                                      "countType": "sinceImagePushed", "countUnit": "days",
                                      "countNumber": 30},
     "action": {"type": "transition", "targetStorageClass": "archive"}},
    {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                      "countUnit": "days", "countNumber": 3},
     "action": {"type": "expire"}}]})


@pytest.fixture
def reg(db, tmp_path):
    IdentityService(db, MasterKey(os.urandom(32))).create_account("team", ACCOUNT)
    with db.write() as tx:
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, REGION)
    registry = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id)
    pushes_create(db, registry_id)
    yield registry
    registry.close()


def _image(reg: Registry, tag: str | None, days: float) -> str:
    digest = str(push_image(reg, REPO, tag, f"{tag} {days}".encode()))
    with reg.db.write() as tx:
        tx.execute(update(manifests).where(manifests.c.digest == digest)
                   .values(pushed_at=NOW - days * DAY))
    return digest


def _run(reg: Registry) -> run.RunReport:
    with reg.db.read() as tx:
        repo_id = repositories.get_id(tx, reg.registry_id, REPO)
    return run.run_repository(reg.db, reg.registry_id, repo_id, REPO, NOW)


def test_an_expiry_and_a_transition_are_events_and_lifecycle_policy_actions(db, reg):
    watch(db, ACCOUNT, "ECR Lifecycle Policy Action")
    archived, expired = _image(reg, "dev-1", 40), _image(reg, None, 10)
    _image(reg, "dev-2", 1)  # too young: left alone
    LifecycleService(db, reg.registry_id).put_policy(REPO, POLICY)
    before = max(e.id for e in Outbox(db).read(limit=10_000))
    report = _run(reg)
    assert (report.transitioned, report.expired) == ([archived], [expired])
    events = Outbox(db).read(after=before)
    acted = [e.payload for e in events if e.kind == LIFECYCLE_ACTED]
    assert {e.repository for e in events if e.kind == LIFECYCLE_ACTED} == {REPO}
    assert sorted(acted, key=lambda p: p["action"]) == [
        {"repositoryId": acted[0]["repositoryId"], "digest": expired, "tags": [],
         "action": "EXPIRE", "rulePriority": 2, "targetStorageClass": None},
        {"repositoryId": acted[0]["repositoryId"], "digest": archived, "tags": ["dev-1"],
         "action": "TRANSITION", "rulePriority": 1, "targetStorageClass": "ARCHIVE"}]
    assert [e.payload["digest"] for e in events if e.kind == IMAGE_DELETED] == [expired]
    found = {e["detail"]["action-type"]: e for e in delivered(db, ACCOUNT)}
    assert set(found) == {"EXPIRE", "TRANSITION"}  # the deletion's Image Action: not selected
    assert {k: v for k, v in found["TRANSITION"].items() if k not in ("id", "time")} == {
        "version": "0", "detail-type": "ECR Lifecycle Policy Action", "source": "aws.ecr",
        "account": ACCOUNT, "region": REGION, "resources": [ARN],
        "detail": {"result": "SUCCESS", "repository-name": REPO, "image-digest": archived,
                   "image-tags": ["dev-1"], "action-type": "TRANSITION", "rule-priority": 1,
                   "target-storage-class": "ARCHIVE"}}
    assert found["EXPIRE"]["detail"] == {
        "result": "SUCCESS", "repository-name": REPO, "image-digest": expired,
        "image-tags": [], "action-type": "EXPIRE", "rule-priority": 2}
    assert _run(reg).expired == [] and len(delivered(db, ACCOUNT)) == 2  # nothing more
