"""A replicated image's end, told as ECR tells it: once a copy to a destination registry of
this deployment is COMPLETE (or FAILED for good) the outbox holds an ``image.replicated`` event
on the destination registry and repository, in the transaction that recorded the status, and
the destination account's webhook target gets an "ECR Replication Action". A copy to another
deployment (a site) tells nothing here; a removal replicated (deleteReplication) neither."""
from __future__ import annotations

import os

import pytest

from berth.events import IMAGE_REPLICATED, Outbox
from berth.iam.identities import IdentityService
from berth.jobs.queue import JobQueue
from berth.keys.master import MasterKey
from berth.registry.registry import Registry
from berth.registry.repositories.settings import IMMUTABLE, TagMutability
from berth.registry.settings import merge_settings
from berth.replication.configuration import (Configuration, Destination,
                                             ReplicationConfigurations, Rule)
from berth.replication.copy import Copier
from berth.replication.sites import SETTINGS_KEY as SITES_KEY
from berth.replication.tasks import run_lane, subscriber
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import replication as task_rows
from tests.support.notifications import delivered, watch
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create

SOURCE, REFUSING, SITE = "111122223333", "444455556666", "777788889999"
EAST, WEST = "us-east-1", "eu-west-1"
REPLICATION = "ECR Replication Action"


@pytest.fixture
def reg(db, tmp_path):
    identities = IdentityService(db, MasterKey(os.urandom(32)))
    identities.create_account("source", SOURCE)
    identities.create_account("refusing", REFUSING)  # no registry policy: ACCESS_DENIED
    with db.write() as tx:
        source_id = registry_rows.ensure_registry(tx, SOURCE, EAST)
    registry = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, source_id)
    pushes_create(db, source_id)
    yield registry
    registry.close()


def _configure(reg: Registry, *destinations: tuple[str, str]) -> None:
    rule = Rule(tuple(Destination(region, account) for region, account in destinations))
    ReplicationConfigurations(reg.db, reg.registry_id).put(
        Configuration((rule,)), SOURCE, EAST, (EAST, WEST), now=0.0)


def _replicate(reg: Registry, copier: Copier | None = None) -> int:
    Outbox(reg.db).deliver(subscriber(JobQueue(reg.db)))
    copier, ran = copier or Copier(reg), 0
    with reg.db.read() as tx:
        lanes = task_rows.open_lanes(tx, float("inf"))
    for lane in lanes:
        ran += run_lane(reg.db, copier, lane, "test-worker")
    return ran


def _replicated(reg: Registry) -> list[tuple]:
    """(account, region, repository, payload) of each image.replicated event, in order."""
    with reg.db.read() as tx:
        addresses = {e.registry_id: registry_rows.settings(tx, e.registry_id)
                     for e in Outbox(reg.db).read(limit=10_000)}
    return [(addresses[e.registry_id].account_id, addresses[e.registry_id].region,
             e.repository, e.payload)
            for e in Outbox(reg.db).read(limit=10_000) if e.kind == IMAGE_REPLICATED]


def test_a_completed_copy_is_an_event_on_the_destination_and_a_replication_action(db, reg):
    watch(db, SOURCE, REPLICATION)
    _configure(reg, (WEST, SOURCE))
    digest = str(push_image(reg, "team/app", "v1", b"replicated"))
    assert _replicate(reg) == 1
    assert _replicated(reg) == [(SOURCE, WEST, "team/app", {
        "digest": digest, "tag": "v1", "sourceAccount": SOURCE, "sourceRegion": EAST,
        "result": "SUCCESS"})]
    # The PUSHes (at the source, at the destination) are not of the target's detail-type.
    [event] = delivered(db, SOURCE)
    assert {k: v for k, v in event.items() if k not in ("id", "time")} == {
        "version": "0", "detail-type": REPLICATION, "source": "aws.ecr", "account": SOURCE,
        "region": WEST, "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "team/app", "image-digest": digest,
                   "action-type": "REPLICATE", "image-tag": "v1", "source-account": SOURCE,
                   "source-region": EAST}}
    assert _replicate(reg) == 0 and len(_replicated(reg)) == 1  # finished: told once


def test_a_tag_the_destination_holds_immutably_is_not_in_the_event(db, reg):
    _configure(reg, (WEST, SOURCE))
    first = str(push_image(reg, "team/app", "v1", b"first"))
    _replicate(reg)
    with reg.db.read() as tx:
        west = registry_rows.registry_id(tx, SOURCE, WEST)
    reg.scoped(west).repository_settings.set_mutability("team/app", TagMutability(IMMUTABLE))
    second = str(push_image(reg, "team/app", "v1", b"second"))  # v1 moves at the source
    _replicate(reg)
    told = [(payload["digest"], payload["tag"]) for *_, payload in _replicated(reg)]
    assert told == [(first, "v1"), (second, None)]  # replicated untagged: told so


def test_a_refused_copy_is_a_failed_replication_action_at_the_refusing_destination(db, reg):
    watch(db, REFUSING, REPLICATION)
    _configure(reg, (EAST, REFUSING))
    digest = str(push_image(reg, "team/app", None, b"refused"))
    _replicate(reg)
    assert _replicated(reg) == [(REFUSING, EAST, "team/app", {
        "digest": digest, "tag": None, "sourceAccount": SOURCE, "sourceRegion": EAST,
        "result": "FAILED"})]
    [event] = delivered(db, REFUSING)
    assert (event["account"], event["region"]) == (REFUSING, EAST)
    assert event["detail"] == {"result": "FAILED", "repository-name": "team/app",
                               "image-digest": digest, "action-type": "REPLICATE",
                               "source-account": SOURCE, "source-region": EAST}


def test_a_copy_to_a_site_and_a_replicated_deletion_tell_nothing_here(db, reg):
    class Site:  # stands in for berth.replication.remote.SiteCopier: the site took it
        def apply(self, task, keep_alive):
            return task.dest_account == SITE
    IdentityService(db, MasterKey(os.urandom(32))).create_account("site", SITE)
    with db.write() as tx:
        registry_rows.ensure_registry(tx, SITE, WEST)  # even with a registry of its id here
        merge_settings(tx, reg.registry_id, {SITES_KEY: {SITE: {
            "endpoint": "https://site.example", "secretArn": "unused"}}})
    ReplicationConfigurations(reg.db, reg.registry_id).put(Configuration((
        Rule((Destination(WEST, SITE),)),
        Rule((Destination(WEST, SOURCE),), delete_replication=True))), SOURCE, EAST,
        (EAST, WEST), now=0.0)
    digest = str(push_image(reg, "team/app", "v1", b"to a site"))
    assert _replicate(reg, Copier(reg, Site())) == 2
    assert [(a, p["result"]) for a, _, _, p in _replicated(reg)] == [(SOURCE, "SUCCESS")]
    reg.manifests.delete("team/app", digest)
    assert _replicate(reg, Copier(reg, Site())) == 1  # the deletion, replicated
    assert len(_replicated(reg)) == 1
