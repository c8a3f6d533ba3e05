"""Domain events as EventBridge would carry ECR's: the envelope (version "0", id, detail-type,
source "aws.ecr", account, time, region, resources, detail) with ECR's "ECR Image Action"
detail (result, repository-name, image-digest, action-type, image-tag), the shapes of the
ECR user guide's "Amazon ECR events and EventBridge" samples.

A push is one PUSH (image-tag only when pushed by tag, as for an index's child manifests);
a removed tag is one DELETE naming it; a deleted image is one DELETE per tag it had (one
without image-tag when it had none). A finished basic scan is one "ECR Image Scan" (scan-status,
finding-severity-counts, image-tags); an enhanced one is Amazon Inspector's "Inspector2 Scan"
(source aws.inspector2, counts with a TOTAL), as ECR's user guide shows both.

An image copied to a destination registry of this deployment is one "ECR Replication Action"
there (action-type REPLICATE, result SUCCESS or FAILED, source-account, source-region,
image-tag when replicated with one; no resources); an import into a pull-through cache is one
"ECR Pull Through Cache Action" (rule-version "1", sync-status, ecr-repository-prefix,
upstream-registry-url, image-tag when pulled by tag, and failure-code and failure-reason when
it FAILED; the cached repository's ARN in resources), the guide's samples and EventBridge's
schema of both. ECR publishes no sample of "ECR Lifecycle Policy Action": its shape here is
Berth's, modelled on the other action events (result SUCCESS, repository-name, image-digest,
image-tags, action-type EXPIRE or TRANSITION, rule-priority, target-storage-class ARCHIVE for
a transition; the repository's ARN in resources). An expiry also deletes the image, which
makes its "ECR Image Action" DELETEs as any deletion does."""
from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from ..events import (
    IMAGE_DELETED,
    IMAGE_PUSHED,
    IMAGE_REPLICATED,
    IMAGE_SCANNED,
    LIFECYCLE_ACTED,
    PULLTHROUGH_SYNCED,
    TAG_REMOVED,
    Event,
)

SOURCE, INSPECTOR = "aws.ecr", "aws.inspector2"
IMAGE_ACTION, IMAGE_SCAN, INSPECTOR_SCAN = "ECR Image Action", "ECR Image Scan", "Inspector2 Scan"
REPLICATION_ACTION = "ECR Replication Action"
PULL_THROUGH_ACTION = "ECR Pull Through Cache Action"
LIFECYCLE_ACTION = "ECR Lifecycle Policy Action"
KINDS = frozenset({IMAGE_PUSHED, IMAGE_DELETED, TAG_REMOVED, IMAGE_SCANNED, IMAGE_REPLICATED,
                   PULLTHROUGH_SYNCED, LIFECYCLE_ACTED})


def iso_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def envelope(detail_type: str, detail: dict[str, Any], account: str, region: str,
             at: float, resources: list[str] | None = None, key: str | None = None
             ) -> dict[str, Any]:
    """``key`` names the event and envelope: its id is derived from it, so an event handed
    out again (after a power loss took its first hand-out back) gets the same id."""
    source = INSPECTOR if detail_type == INSPECTOR_SCAN else SOURCE
    event_id = uuid.uuid4() if key is None else uuid.UUID(
        bytes=hashlib.sha256(key.encode()).digest()[:16], version=4)
    return {"version": "0", "id": str(event_id), "detail-type": detail_type,
            "source": source, "account": account, "time": iso_time(at), "region": region,
            "resources": resources or [], "detail": detail}


def image_action(action: str, repository: str, digest: str, tag: str | None) -> dict:
    detail = {"result": "SUCCESS", "repository-name": repository, "image-digest": digest,
              "action-type": action}
    if tag:
        detail["image-tag"] = tag
    return detail


def details(event: Event) -> list[tuple[str, dict[str, Any]]]:
    """(detail-type, detail) of each EventBridge event this domain event makes."""
    p = event.payload
    if event.kind == IMAGE_PUSHED:
        return [(IMAGE_ACTION, image_action("PUSH", event.repository, p["digest"],
                                            p.get("tag")))]
    if event.kind == TAG_REMOVED:
        return [(IMAGE_ACTION, image_action("DELETE", event.repository, p["digest"],
                                            p["tag"]))]
    if event.kind == IMAGE_DELETED:
        return [(IMAGE_ACTION, image_action("DELETE", event.repository, p["digest"], tag))
                for tag in (p.get("tags") or [None])]
    return []


def scan_detail(event: Event, repository_arn: str) -> tuple[str, dict[str, Any]]:
    p = event.payload
    counts = dict(p.get("counts") or {})
    if p.get("scanType") == "ENHANCED":
        status = "INITIAL_SCAN_COMPLETE" if p["status"] in ("COMPLETE", "ACTIVE") else p["status"]
        return INSPECTOR_SCAN, {"scan-status": status, "repository-name": repository_arn,
                                "finding-severity-counts": {**counts,
                                                            "TOTAL": sum(counts.values())},
                                "image-digest": p["digest"], "image-tags": p.get("tags", [])}
    return IMAGE_SCAN, {"scan-status": p["status"], "repository-name": event.repository,
                        "finding-severity-counts": counts, "image-digest": p["digest"],
                        "image-tags": p.get("tags", [])}


def replication_detail(event: Event) -> dict[str, Any]:
    p = event.payload
    detail = {"result": p["result"], "repository-name": event.repository,
              "image-digest": p["digest"], "action-type": "REPLICATE",
              "source-account": p["sourceAccount"], "source-region": p["sourceRegion"]}
    if p.get("tag"):
        detail["image-tag"] = p["tag"]
    return detail


def pull_through_detail(event: Event) -> dict[str, Any]:
    p = event.payload
    detail = {"rule-version": "1", "sync-status": p["status"],
              "ecr-repository-prefix": p["ecrRepositoryPrefix"],
              "repository-name": event.repository,
              "upstream-registry-url": p["upstreamRegistryUrl"], "image-digest": p["digest"]}
    if p.get("tag"):
        detail["image-tag"] = p["tag"]
    if p["status"] == "FAILED":
        detail["failure-code"] = p.get("failureCode") or "UNKNOWN"
        detail["failure-reason"] = p.get("failureReason") or ""
    return detail


def lifecycle_detail(event: Event) -> dict[str, Any]:
    p = event.payload
    detail = {"result": "SUCCESS", "repository-name": event.repository,
              "image-digest": p["digest"], "image-tags": list(p.get("tags") or []),
              "action-type": p["action"], "rule-priority": p["rulePriority"]}
    if p.get("targetStorageClass"):
        detail["target-storage-class"] = p["targetStorageClass"]
    return detail


def single(event: Event, arn: str) -> tuple[str, dict[str, Any], list[str]] | None:
    """(detail-type, detail, resources) of a kind that makes exactly one EventBridge event."""
    if event.kind == IMAGE_SCANNED:
        return (*scan_detail(event, arn), [arn])
    if event.kind == IMAGE_REPLICATED:
        return REPLICATION_ACTION, replication_detail(event), []  # as ECR's sample: none
    if event.kind == PULLTHROUGH_SYNCED:
        return PULL_THROUGH_ACTION, pull_through_detail(event), [arn]
    if event.kind == LIFECYCLE_ACTED:
        return LIFECYCLE_ACTION, lifecycle_detail(event), [arn]
    return None


def envelopes(event: Event, account: str, region: str) -> list[dict[str, Any]]:
    arn = f"arn:aws:ecr:{region}:{account}:repository/{event.repository}"
    one = single(event, arn)
    if one is not None:
        kind, detail, resources = one
        return [envelope(kind, detail, account, region, event.created_at, resources,
                         _key(event, account, region, 0))]
    return [envelope(kind, detail, account, region, event.created_at, None,
                     _key(event, account, region, n))
            for n, (kind, detail) in enumerate(details(event))]


def _key(event: Event, account: str, region: str, n: int) -> str:
    return f"{account}:{region}:{event.id}:{event.created_at!r}:{n}"
