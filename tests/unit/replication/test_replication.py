"""Replication within one deployment, driven step by step (the outbox subscriber, then each
lane's copy) against the full app, looked at through the ECR API as ECR documents it: to
another region and another account; only what is pushed after the rule; names kept; no
setting copied (the destination's REPLICATION template applies); cross-account only with the
destination's registry policy; an immutable destination tag left off; an index with its
platforms and an image with its referrers; DescribeImageReplicationStatus."""
from __future__ import annotations

import json

import pytest

from berth.events import Outbox
from berth.jobs.queue import JobQueue
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.references import Digest
from berth.replication.copy import Copier
from berth.replication.tasks import run_lane, subscriber
from berth.storage.metadata import replication as task_rows
from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("replication")
WEST = "eu-west-1"


def _replicate(server) -> int:
    """Deliver the outbox to the subscriber, then copy every lane; how many tasks ran."""
    db = server.state.registry.db
    Outbox(db).deliver(subscriber(JobQueue(db)))
    copier, ran = Copier(server.state.registry), 0
    with db.read() as tx:
        lanes = task_rows.open_lanes(tx, float("inf"))
    for lane in lanes:
        ran += run_lane(db, copier, lane, "test-worker")
    return ran


def _configure(server, *destinations, prefix: str | None = None):
    rule = {"destinations": [{"region": r, "registryId": a} for r, a in destinations]}
    if prefix:
        rule["repositoryFilters"] = [{"filter": prefix, "filterType": "PREFIX_MATCH"}]
    server.client().put_replication_configuration(replicationConfiguration={"rules": [rule]})


def _status(server, repository: str, tag: str) -> list[dict]:
    return server.client().describe_image_replication_status(
        repositoryName=repository, imageId={"imageTag": tag})["replicationStatuses"]


@pytest.fixture(autouse=True)
def _no_rules_after(server):
    yield
    server.client().put_replication_configuration(replicationConfiguration={"rules": []})
    _replicate(server)


def test_to_another_region_after_the_rule_only(server):
    admin = server.account
    before = server.push("xr/app", "old", b"pushed before the rule")
    _configure(server, (WEST, admin), prefix="xr/")
    digest = server.push("xr/app", "v1", b"cross-region layer")
    server.push("other/app", "v1", b"not under the filter")
    assert _replicate(server) == 1
    west = server.client(region=WEST)
    [image] = west.batch_get_image(repositoryName="xr/app",
                                   imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageId"]["imageDigest"] == digest  # the same bytes: the same digest
    ids = west.list_images(repositoryName="xr/app")["imageIds"]
    assert {i["imageDigest"] for i in ids} == {digest}  # not what came before the rule
    assert before != digest
    with pytest.raises(west.exceptions.RepositoryNotFoundException):
        west.describe_repositories(repositoryNames=["other/app"])
    assert _status(server, "xr/app", "v1") == [
        {"region": WEST, "registryId": admin, "status": "COMPLETE"}]
    assert _status(server, "xr/app", "old") == []
    # The layer downloads from the destination, byte for byte.
    url = west.get_download_url_for_layer(
        repositoryName="xr/app", layerDigest=str(Digest.of(b"cross-region layer")))
    assert url["layerDigest"] == str(Digest.of(b"cross-region layer"))


def test_no_setting_is_copied_but_the_destinations_template_applies(server):
    admin, client = server.account, server.client()
    client.create_repository(repositoryName="settings/app", imageTagMutability="IMMUTABLE",
                             imageScanningConfiguration={"scanOnPush": True})
    west = server.client(region=WEST)
    west.create_repository_creation_template(
        prefix="settings", appliedFor=["REPLICATION"],
        resourceTags=[{"Key": "replica", "Value": "yes"}])
    try:
        _configure(server, (WEST, admin))
        server.push("settings/app", "v1", b"settings layer")
        _replicate(server)
        made = west.describe_repositories(repositoryNames=["settings/app"])["repositories"][0]
        assert made["imageTagMutability"] == "MUTABLE"
        assert made["imageScanningConfiguration"] == {"scanOnPush": False}
        assert west.list_tags_for_resource(resourceArn=made["repositoryArn"])["tags"] == [
            {"Key": "replica", "Value": "yes"}]
    finally:
        west.delete_repository_creation_template(prefix="settings")


def test_an_immutable_destination_tag_is_left_off(server):
    admin = server.account
    west = server.client(region=WEST)
    west.create_repository(repositoryName="imm/app", imageTagMutability="IMMUTABLE")
    _configure(server, (WEST, admin))
    first = server.push("imm/app", "v1", b"first")
    _replicate(server)
    second = server.push("imm/app", "v1", b"second")  # the tag moves at the source
    _replicate(server)
    images = {i["imageDigest"]: i.get("imageTags", [])
              for i in west.describe_images(repositoryName="imm/app")["imageDetails"]}
    assert images == {first: ["v1"], second: []}  # replicated, untagged
    assert _status(server, "imm/app", "v1")[0]["status"] == "COMPLETE"


def test_another_account_needs_its_registry_policy(server):
    other, key = server.account_with_user("replica-target")
    _configure(server, (REGION, other))
    server.push("xa/app", "v1", b"cross-account, refused")
    _replicate(server)
    [status] = _status(server, "xa/app", "v1")
    assert (status["status"], status["failureCode"]) == ("FAILED", "ACCESS_DENIED")
    target = server.client(key)
    with pytest.raises(target.exceptions.RepositoryNotFoundException):
        target.describe_repositories(repositoryNames=["xa/app"])
    target.put_registry_policy(policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account}:root"},
            "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
            "Resource": f"arn:aws:ecr:{REGION}:{other}:repository/*"}]}))
    digest = server.push("xa/app", "v2", b"cross-account, allowed")
    _replicate(server)
    [image] = target.describe_images(repositoryName="xa/app")["imageDetails"]
    assert (image["imageDigest"], image["imageTags"]) == (digest, ["v2"])
    assert _status(server, "xa/app", "v2")[0]["status"] == "COMPLETE"


def test_an_index_goes_with_its_platforms_and_referrers(server):
    admin, reg = server.account, server.state.registry
    _configure(server, (WEST, admin))
    children = []
    for arch in ("amd64", "arm64"):
        body = server.manifest("multi/app", f"layer {arch}".encode())
        children.append((reg.manifests.put("multi/app", None, body, OCI_MANIFEST), len(body)))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": str(c.digest), "size": size,
         "platform": {"os": "linux", "architecture": arch}}
        for (c, size), arch in zip(children, ("amd64", "arm64"))]}).encode()
    pushed = reg.manifests.put("multi/app", "v1", index, OCI_INDEX)
    sbom = server.manifest("multi/app", b"an sbom", subject={
        "mediaType": OCI_INDEX, "digest": str(pushed.digest), "size": len(index)})
    reg.manifests.put("multi/app", None, sbom, OCI_MANIFEST)
    _replicate(server)
    west = server.client(region=WEST)
    digests = {i["imageDigest"] for i in west.list_images(repositoryName="multi/app")[
        "imageIds"]}
    assert digests == {str(pushed.digest), *(str(c.digest) for c, _ in children),
                       str(Digest.of(sbom))}
    referrers = server.state.registry.scoped(_west_registry(server)).repositories.referrers(
        "multi/app", pushed.digest, None)["manifests"]
    assert [r["digest"] for r in referrers] == [str(Digest.of(sbom))]


def _west_registry(server) -> int:
    from berth.iam.tenancy import RegistryAddress

    return server.state.iam.registry_id(RegistryAddress(server.account, WEST))


def test_a_copy_run_twice_changes_nothing(server):
    admin = server.account
    _configure(server, (WEST, admin))
    digest = server.push("twice/app", "v1", b"twice")
    assert _replicate(server) == 1
    db, t = server.state.registry.db, task_rows.replication_tasks.c
    with db.write() as tx:  # as if a SIGKILL came after the copy, before it was recorded
        tx.execute(task_rows.replication_tasks.update().where(
            t.repository == "twice/app").values(status="IN_PROGRESS"))
    assert _replicate(server) == 1
    west = server.client(region=WEST)
    assert [i["imageDigest"] for i in west.list_images(repositoryName="twice/app")[
        "imageIds"]] == [digest]
    assert _status(server, "twice/app", "v1")[0]["status"] == "COMPLETE"


def test_a_destination_sealing_with_another_key_gets_the_bytes_copied(server):
    admin = server.account
    west = server.client(region=WEST)
    made = west.create_repository(repositoryName="kms/app",
                                  encryptionConfiguration={"encryptionType": "KMS"})
    assert made["repository"]["encryptionConfiguration"]["encryptionType"] == "KMS"
    _configure(server, (WEST, admin))
    layer = b"sealed under another key" * 4096
    server.push("kms/app", "v1", layer)
    _replicate(server)
    dest = server.state.registry.scoped(_west_registry(server))
    source_blob = server.state.registry.blobs.find("kms/app", Digest.of(layer))
    dest_blob = dest.blobs.find("kms/app", Digest.of(layer))
    assert dest_blob.key_ref != source_blob.key_ref
    assert b"".join(dest.blobs.read(dest_blob, 0, dest_blob.size)) == layer
    assert _status(server, "kms/app", "v1")[0]["status"] == "COMPLETE"


# -- backfills ------------------------------------------------------------------------------
def _prepare(server, backfill_id: str) -> None:
    """The backfill's job: list the images and make their tasks."""
    from berth.replication.backfill import Backfills

    Backfills(server.state.registry).prepare(backfill_id, lambda lane: None)


def test_a_backfill_copies_what_came_before_the_rule(server):
    admin, client = server.account, server.client()
    old = {server.push("bf/app", tag, f"old {tag}".encode()) for tag in ("a", "b")}
    server.push("elsewhere/app", "a", b"not covered")
    _configure(server, (WEST, admin), prefix="bf/")
    assert _replicate(server) == 0  # pushed before the rule: not replicated by pushes
    destination = {"region": WEST, "registryId": admin}
    started = client.start_replication_backfill(destination=destination)
    assert (started["status"], started["destination"]) == ("PREPARING", destination)
    backfill_id = started["replicationBackfillId"]
    with pytest.raises(client.exceptions.ReplicationBackfillInProgressException):
        client.start_replication_backfill(destination=destination)
    _prepare(server, backfill_id)
    assert client.describe_replication_backfill_results(
        replicationBackfillId=backfill_id)["results"] == []  # only once it has ended
    assert _replicate(server) == 2
    [summary] = [b for b in client.list_replication_backfills()["backfills"]
                 if b["replicationBackfillId"] == backfill_id]
    assert summary["status"] == "COMPLETE" and "endedAt" in summary
    assert summary["progress"] == {"totalReplicationCount": 2, "completedReplicationCount": 2,
                                   "failedReplicationCount": 0, "failureCodes": []}
    results = client.describe_replication_backfill_results(
        replicationBackfillId=backfill_id)["results"]
    assert {(r["repositoryName"], r["imageId"]["imageDigest"], r["status"])
            for r in results} == {("bf/app", d, "COMPLETE") for d in old}
    west = server.client(region=WEST)
    assert {i["imageDigest"] for i in west.list_images(repositoryName="bf/app")[
        "imageIds"]} == old
    with pytest.raises(west.exceptions.RepositoryNotFoundException):
        west.describe_repositories(repositoryNames=["elsewhere/app"])


def test_a_backfill_needs_a_configured_destination_and_stops(server):
    admin, client = server.account, server.client()
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.start_replication_backfill(destination={"region": WEST, "registryId": admin})
    _configure(server, (WEST, admin))
    server.push("stop/app", "a", b"stopped before it began")
    started = client.start_replication_backfill(
        destination={"region": WEST, "registryId": admin})
    backfill_id = started["replicationBackfillId"]
    stopped = client.stop_replication_backfill(replicationBackfillId=backfill_id)
    assert stopped["status"] in ("STOPPING", "STOPPED")  # no copy was under way
    _prepare(server, backfill_id)
    [summary] = [b for b in client.list_replication_backfills()["backfills"]
                 if b["replicationBackfillId"] == backfill_id]
    assert summary["status"] == "STOPPED"
    with pytest.raises(client.exceptions.ReplicationBackfillInvalidStatusException):
        client.stop_replication_backfill(replicationBackfillId=backfill_id)
    with pytest.raises(client.exceptions.ReplicationBackfillNotFoundException):
        client.stop_replication_backfill(
            replicationBackfillId="00000000-0000-0000-0000-000000000000")


# -- deletions ------------------------------------------------------------------------------
def test_no_deletion_is_replicated_by_default(server):
    admin, reg = server.account, server.state.registry
    _configure(server, (WEST, admin))
    digest = server.push("keep/app", "v1", b"kept at the destination")
    server.push("keep/app", "v2", b"another")
    _replicate(server)
    reg.manifests.delete("keep/app", "v2")
    reg.manifests.delete("keep/app", digest)
    assert _replicate(server) == 0
    west = server.client(region=WEST)
    tags = {t for i in west.describe_images(repositoryName="keep/app")["imageDetails"]
            for t in i.get("imageTags", [])}
    assert tags == {"v1", "v2"}


def test_delete_replication_removes_images_and_tags_there(server):
    admin, reg, client = server.account, server.state.registry, server.client()
    client.put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": WEST, "registryId": admin}],
        "deleteReplication": {"enabled": True}}]})
    doomed = server.push("gone/app", "v1", b"deleted at the source")
    kept = server.push("gone/app", "v2", b"untagged at the source")
    reg.manifests.put("gone/app", "v3", _content(server, kept), OCI_MANIFEST)
    _replicate(server)
    reg.manifests.delete("gone/app", doomed)   # the image, with its tag
    reg.manifests.delete("gone/app", "v3")     # a tag alone
    _replicate(server)
    west = server.client(region=WEST)
    images = {i["imageDigest"]: sorted(i.get("imageTags", []))
              for i in west.describe_images(repositoryName="gone/app")["imageDetails"]}
    assert images == {kept: ["v2"]}


def _content(server, digest: str) -> bytes:
    from berth.storage.metadata import manifests as manifest_rows

    reg = server.state.registry
    return bytes(manifest_rows.lookup(reg.db, reg.registry_id, "gone/app", digest, False,
                                      True).content)
