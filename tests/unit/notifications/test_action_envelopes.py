"""Replication, pull-through cache and lifecycle events as EventBridge carries ECR's: "ECR
Replication Action" and "ECR Pull Through Cache Action" with the ECR user guide's sample
shapes, "ECR Lifecycle Policy Action" modelled on them; each a single envelope whose id is
derived from the event, selected by a pattern on its detail-type."""
import uuid

from berth.events import IMAGE_REPLICATED, LIFECYCLE_ACTED, PULLTHROUGH_SYNCED, Event
from berth.notifications.envelope import KINDS, envelopes
from berth.notifications.patterns import matches

AT = 1_700_000_000.5  # 2023-11-14T22:13:20Z
ACCOUNT, REGION = "123456789012", "us-west-2"
ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/hub/library/app"
DIGEST = "sha256:" + "ab" * 32


def _event(kind, repository="hub/library/app", event_id=11, **payload):
    return Event(event_id, kind, 1, repository, payload, AT)


def _one(event):
    [found] = envelopes(event, ACCOUNT, REGION)
    uuid.UUID(found["id"])
    assert found["id"] == envelopes(event, ACCOUNT, REGION)[0]["id"]  # derived, not random
    assert {k: found[k] for k in ("version", "source", "account", "time", "region")} == {
        "version": "0", "source": "aws.ecr", "account": ACCOUNT,
        "time": "2023-11-14T22:13:20Z", "region": REGION}
    return found


def test_the_new_kinds_are_notified():
    assert {IMAGE_REPLICATED, PULLTHROUGH_SYNCED, LIFECYCLE_ACTED} <= KINDS


def test_a_replication_is_an_ecr_replication_action_without_resources():
    found = _one(_event(IMAGE_REPLICATED, "team-a/web", digest=DIGEST, tag="v1",
                        sourceAccount="210987654321", sourceRegion="us-east-2",
                        result="SUCCESS"))
    assert (found["detail-type"], found["resources"]) == ("ECR Replication Action", [])
    assert found["detail"] == {"result": "SUCCESS", "repository-name": "team-a/web",
                               "image-digest": DIGEST, "action-type": "REPLICATE",
                               "image-tag": "v1", "source-account": "210987654321",
                               "source-region": "us-east-2"}
    failed = _one(_event(IMAGE_REPLICATED, digest=DIGEST, tag=None, sourceAccount=ACCOUNT,
                         sourceRegion="us-east-2", result="FAILED", event_id=12))
    assert failed["detail"]["result"] == "FAILED" and "image-tag" not in failed["detail"]
    assert failed["id"] != found["id"]
    assert matches({"source": ["aws.ecr"], "detail-type": ["ECR Replication Action"],
                    "detail": {"result": ["FAILED"]}}, failed)
    assert not matches({"detail-type": ["ECR Replication Action"],
                        "detail": {"result": ["FAILED"]}}, found)


def test_a_pull_through_sync_is_an_ecr_pull_through_cache_action():
    found = _one(_event(PULLTHROUGH_SYNCED, digest=DIGEST, tag="latest",
                        ecrRepositoryPrefix="hub", upstreamRegistryUrl="registry-1.docker.io",
                        status="SUCCESS"))
    assert (found["detail-type"], found["resources"]) == ("ECR Pull Through Cache Action",
                                                          [ARN])
    assert found["detail"] == {"rule-version": "1", "sync-status": "SUCCESS",
                               "ecr-repository-prefix": "hub",
                               "repository-name": "hub/library/app",
                               "upstream-registry-url": "registry-1.docker.io",
                               "image-tag": "latest", "image-digest": DIGEST}
    assert matches({"detail-type": ["ECR Pull Through Cache Action"],
                    "detail": {"sync-status": ["SUCCESS"]}}, found)


def test_a_failed_sync_says_why():
    found = _one(_event(PULLTHROUGH_SYNCED, digest=DIGEST, tag=None, ecrRepositoryPrefix="hub",
                        upstreamRegistryUrl="https://quay.io", status="FAILED",
                        failureCode="UPSTREAM_UNAVAILABLE", failureReason="HTTP 503"))
    assert found["detail"] == {"rule-version": "1", "sync-status": "FAILED",
                               "ecr-repository-prefix": "hub",
                               "repository-name": "hub/library/app",
                               "upstream-registry-url": "https://quay.io",
                               "image-digest": DIGEST, "failure-code": "UPSTREAM_UNAVAILABLE",
                               "failure-reason": "HTTP 503"}


def test_a_lifecycle_expiry_and_transition_are_ecr_lifecycle_policy_actions():
    expired = _one(_event(LIFECYCLE_ACTED, repositoryId=3, digest=DIGEST, tags=["a", "b"],
                          action="EXPIRE", rulePriority=2, targetStorageClass=None))
    assert (expired["detail-type"], expired["resources"]) == ("ECR Lifecycle Policy Action",
                                                              [ARN])
    assert expired["detail"] == {"result": "SUCCESS", "repository-name": "hub/library/app",
                                 "image-digest": DIGEST, "image-tags": ["a", "b"],
                                 "action-type": "EXPIRE", "rule-priority": 2}
    moved = _one(_event(LIFECYCLE_ACTED, repositoryId=3, digest=DIGEST, tags=[],
                        action="TRANSITION", rulePriority=1, targetStorageClass="ARCHIVE",
                        event_id=13))
    assert moved["detail"] == {"result": "SUCCESS", "repository-name": "hub/library/app",
                               "image-digest": DIGEST, "image-tags": [],
                               "action-type": "TRANSITION", "rule-priority": 1,
                               "target-storage-class": "ARCHIVE"}
    pattern = {"detail-type": ["ECR Lifecycle Policy Action"],
               "detail": {"action-type": ["TRANSITION"], "rule-priority": [{"numeric": [
                   "<", 2]}]}}
    assert matches(pattern, moved) and not matches(pattern, expired)
