"""The import job of a pull-through cache, run step by step against the full app: the app is
its own upstream (a rule whose upstream is its own endpoint, logged in with the
administrator's access key). A pull stages the manifest and queues the import; the import
stores the blobs and makes the image, under its tag; running it again changes nothing; an
import whose repository or rule went meanwhile is dropped (a FAILED event at once), not
retried forever."""
from __future__ import annotations

import base64
import json

import pytest
import requests
from botocore.exceptions import ClientError

from berth.events import PULLTHROUGH_SYNCED, Outbox
from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobContext
from berth.pullthrough.cache import IMPORT_ATTEMPTS, IMPORT_JOB
from berth.pullthrough.imports import Importer
from berth.pullthrough.upstream import UpstreamError
from berth.secrets.services import SecretService
from berth.storage.metadata import pullthrough as rows
from tests.support.notifications import delivered, watch
from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("pullthrough-imports")


@pytest.fixture(scope="module")
def rule(server):
    state = server.state
    secret = SecretService(state.registry.db, state.iam.identities.master).put(
        server.account, REGION, "ecr-pullthroughcache/self", json.dumps(
            {"accessKeyId": server.admin.id, "secretAccessKey": server.admin.secret}))
    server.client().create_pull_through_cache_rule(
        ecrRepositoryPrefix="mirror", upstreamRegistryUrl=server.url, credentialArn=secret.arn)
    return "mirror"


def _pull_manifest(server, repository: str, tag: str) -> requests.Response:
    token = server.client().get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    return requests.get(f"{server.url}/v2/{repository}/manifests/{tag}", auth=(user, password),
                        timeout=30)


def _imports(server) -> list[dict]:
    claimed = JobQueue(server.state.registry.db).claim("test", [IMPORT_JOB], 100, 60)
    return [job.payload for job in claimed]


def _images(server, repository: str) -> list[dict]:
    return server.client().list_images(repositoryName=repository)["imageIds"]


def test_the_import_makes_the_image_and_running_it_again_changes_nothing(server, rule):
    digest = server.push("src/app", "v1", b"the upstream's layer")
    served = _pull_manifest(server, "mirror/src/app", "v1")
    assert served.status_code == 200 and served.headers["Docker-Content-Digest"] == digest
    assert _images(server, "mirror/src/app") == []  # staged, not yet an image
    payloads = _imports(server)
    assert payloads == [{"registryId": server.state.registry.registry_id,
                         "repository": "mirror/src/app", "digest": digest, "tag": "v1",
                         "ecrRepositoryPrefix": "mirror", "upstreamRegistryUrl": server.url}]
    importer = Importer(server.state.pullthrough)
    importer.run(payloads[0])
    assert _images(server, "mirror/src/app") == [{"imageDigest": digest, "imageTag": "v1"}]
    importer.run(payloads[0])
    assert _images(server, "mirror/src/app") == [{"imageDigest": digest, "imageTag": "v1"}]
    assert _pull_manifest(server, "mirror/src/app", "v1").content == served.content


def _synced(server, repository: str) -> list[dict]:
    return [e.payload for e in Outbox(server.state.registry.db).read(limit=100_000)
            if e.kind == PULLTHROUGH_SYNCED and e.repository == repository]


def test_an_import_is_one_pull_through_cache_action(server, rule):
    db = server.state.registry.db
    watch(db, server.account, "ECR Pull Through Cache Action", "synced")
    digest = server.push("src/told", "v1", b"told once")
    assert _pull_manifest(server, "mirror/src/told", "v1").status_code == 200
    [payload] = _imports(server)
    importer = Importer(server.state.pullthrough)
    importer.run(payload)
    importer.run(payload)  # imported already: nothing to tell
    assert _synced(server, "mirror/src/told") == [{
        "digest": digest, "tag": "v1", "ecrRepositoryPrefix": "mirror",
        "upstreamRegistryUrl": server.url, "status": "SUCCESS"}]
    [event] = delivered(db, server.account, "synced")
    assert (event["detail-type"], event["account"], event["region"]) == (
        "ECR Pull Through Cache Action", server.account, REGION)
    assert event["resources"] == [
        f"arn:aws:ecr:{REGION}:{server.account}:repository/mirror/src/told"]
    assert event["detail"] == {
        "rule-version": "1", "sync-status": "SUCCESS", "ecr-repository-prefix": "mirror",
        "repository-name": "mirror/src/told", "upstream-registry-url": server.url,
        "image-tag": "v1", "image-digest": digest}


def test_an_import_that_fails_is_told_after_its_last_attempt_only(server, rule):
    db = server.state.registry.db
    watch(db, server.account, "ECR Pull Through Cache Action", "failed")
    server.push("src/lost", "v1", b"gone upstream before its import")
    assert _pull_manifest(server, "mirror/src/lost", "v1").status_code == 200
    server.client().delete_repository(repositoryName="src/lost", force=True)  # upstream
    [payload] = _imports(server)
    importer = Importer(server.state.pullthrough)
    for attempt in (1, IMPORT_ATTEMPTS):
        with pytest.raises(UpstreamError):  # raised: the job records its attempt
            importer.run(payload, JobContext("job", IMPORT_JOB, payload, attempt))
        assert len(_synced(server, "mirror/src/lost")) == (attempt == IMPORT_ATTEMPTS)
    [found] = _synced(server, "mirror/src/lost")
    assert (found["status"], found["failureCode"]) == ("FAILED", "UPSTREAM_IMAGE_NOT_FOUND")
    assert "404" in found["failureReason"], found
    [event] = delivered(db, server.account, "failed")
    assert event["detail"] == {
        "rule-version": "1", "sync-status": "FAILED", "ecr-repository-prefix": "mirror",
        "repository-name": "mirror/src/lost", "upstream-registry-url": server.url,
        "image-tag": "v1", "image-digest": payload["digest"],
        "failure-code": "UPSTREAM_IMAGE_NOT_FOUND", "failure-reason": found["failureReason"]}


def test_an_import_into_a_deleted_repository_is_dropped_and_told_failed(server, rule):
    db = server.state.registry.db
    watch(db, server.account, "ECR Pull Through Cache Action", "dropped")
    server.push("src/gone", "v1", b"deleted before its import")
    assert _pull_manifest(server, "mirror/src/gone", "v1").status_code == 200
    server.client().delete_repository(repositoryName="mirror/src/gone", force=True)
    [payload] = _imports(server)
    importer = Importer(server.state.pullthrough)
    importer.run(payload, JobContext("job", IMPORT_JOB, payload, 1))  # no retry: at once
    importer.run(payload)  # dropped already: nothing to tell twice
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        _images(server, "mirror/src/gone")
    [found] = _synced(server, "mirror/src/gone")
    assert (found["status"], found["failureCode"], found["failureReason"]) == (
        "FAILED", "REPOSITORY_NOT_FOUND", "The repository was deleted")
    [event] = delivered(db, server.account, "dropped")
    assert (event["detail"]["sync-status"], event["detail"]["failure-code"]) == (
        "FAILED", "REPOSITORY_NOT_FOUND")


def _brief_rule(server, rule: str, prefix: str) -> None:
    server.client().create_pull_through_cache_rule(ecrRepositoryPrefix=prefix,
                                                   upstreamRegistryUrl=server.url)
    # Anonymous upstream pulls are refused by Berth: give the rule the same secret.
    arn = server.client().describe_pull_through_cache_rules(
        ecrRepositoryPrefixes=[rule])["pullThroughCacheRules"][0]["credentialArn"]
    server.client().update_pull_through_cache_rule(ecrRepositoryPrefix=prefix,
                                                   credentialArn=arn)


def _staged_then_rule_deleted(server, rule: str, prefix: str) -> dict:
    """A pull through a rule of its own stages an import; the rule is deleted before the
    import runs: the import's payload."""
    _brief_rule(server, rule, prefix)
    server.push(f"src/{prefix}", "v1", b"the rule goes: " + prefix.encode())
    assert _pull_manifest(server, f"{prefix}/src/{prefix}", "v1").status_code == 200
    server.client().delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)
    [payload] = _imports(server)
    return payload


def test_an_import_whose_rule_was_deleted_is_dropped_and_told_failed(server, rule):
    payload = _staged_then_rule_deleted(server, rule, "brief")
    Importer(server.state.pullthrough).run(payload, JobContext("job", IMPORT_JOB, payload, 1))
    assert _images(server, "brief/src/brief") == []
    # The event names the deleted rule, as it was when the pull staged the import.
    [found] = _synced(server, "brief/src/brief")
    assert (found["status"], found["failureCode"], found["ecrRepositoryPrefix"],
            found["upstreamRegistryUrl"]) == (
        "FAILED", "PULL_THROUGH_CACHE_RULE_NOT_FOUND", "brief", server.url)


def test_an_import_queued_without_its_rule_named_is_dropped_untold(server, rule):
    payload = _staged_then_rule_deleted(server, rule, "older")  # queued by an earlier version
    del payload["ecrRepositoryPrefix"], payload["upstreamRegistryUrl"]
    Importer(server.state.pullthrough).run(payload)
    assert _images(server, "older/src/older") == [] and _synced(server, "older/src/older") == []
    with server.state.registry.db.read() as tx:  # not pending: the prune's to forget
        assert rows.ref(tx, server.state.registry.registry_id, "older/src/older",
                        payload["digest"]).content is None


def test_the_prune_forgets_lapsed_claims_stale_pending_manifests_and_gone_repositories(
        server, rule):
    db, registry_id, now = server.state.registry.db, server.state.registry.registry_id, 1e9
    server.repository("kept/app")
    with db.write() as tx:
        rows.put_ref(tx, registry_id, "kept/app", "v1", "sha256:" + "a" * 64, "m", None, now)
        rows.put_ref(tx, registry_id, "kept/app", "v2", "sha256:" + "b" * 64, "m", b"{}",
                     now - 8 * 86400)          # fetched, never imported
        rows.put_ref(tx, registry_id, "gone/app", "v1", "sha256:" + "c" * 64, "m", None, now)
        rows.claim_fetch(tx, registry_id, "kept/app", "sha256:" + "d" * 64, 0, now - 7200)
        rows.claim_fetch(tx, registry_id, "kept/app", "sha256:" + "e" * 64, 0, now + 60)
        assert rows.prune(tx, now - 3600, now - 7 * 86400) >= 3
    with db.read() as tx:
        assert rows.ref(tx, registry_id, "kept/app", "v1") is not None
        assert rows.ref(tx, registry_id, "kept/app", "v2") is None
        assert rows.ref(tx, registry_id, "gone/app", "v1") is None
        assert not rows.fetch_claimed(tx, registry_id, "kept/app", "sha256:" + "d" * 64, 0)
        assert rows.fetch_claimed(tx, registry_id, "kept/app", "sha256:" + "e" * 64, now)
