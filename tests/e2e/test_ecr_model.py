"""The ECR API against botocore's own model of it, on a real server.

Every operation Berth serves (``berth.api.ecr.routes.OPERATIONS``) is called with boto3 with a
minimal valid request against real state (a repository, an image pushed over HTTP, layers
uploaded and an image and a referrer put through the ECR API), must succeed, and the raw JSON
of every response must match the operation's output shape: required members present, no members
outside the shape, JSON types right, enums and length/range limits kept, timestamps epoch
seconds. Every operation of the model Berth does not serve must answer a clean
``UnknownOperationException`` (400, AWS JSON 1.1 error body) -- never a 500.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from berth.api.ecr.routes import OPERATIONS
from berth.config import Settings
from berth.iam.wiring import open_iam
from berth.secrets import SecretService
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database
from tests.support.berth_server import ecr_client, ecr_key
from tests.support.ecr_shapes import shape_problems
from tests.support.oci_push import digest_of, push_image
from tests.support.ports import wait_until
from tests.support.replication import held_backfill

pytestmark = pytest.mark.e2e

MODEL = botocore.session.get_session().get_service_model("ecr")
SERVED = sorted(OPERATIONS)
NOT_SERVED = sorted(set(MODEL.operation_names) - set(OPERATIONS))
# An operation no model has: answered as AWS answers any operation it does not know.
UNKNOWN = "DescribeRegistryHolograms"
REPO = "ecr-model/walk"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
JSON_11 = "application/x-amz-json-1.1"


def test_the_shape_check_can_fail():
    """The checker itself: a good DescribeImages answer passes, each kind of damage is caught."""
    shape = MODEL.operation_model("DescribeImages").output_shape
    good = {"imageDetails": [{"registryId": "123456789012", "repositoryName": "a/b",
                              "imageDigest": "sha256:" + "0" * 64, "imageTags": ["v1"],
                              "imageSizeInBytes": 12, "imagePushedAt": 1700000000.5,
                              "imageManifestMediaType": OCI_MANIFEST}]}
    assert shape_problems(good, shape) == []
    detail = good["imageDetails"][0]
    for damage in ({"imageSizeInBytes": "12"}, {"imagePushedAt": "2024-01-01"},
                   {"surprise": 1}, {"imageTags": "v1"}, {"imageDigest": None},
                   {"lastRecordedPullTime": True}):
        broken = {"imageDetails": [{**detail, **damage}]}
        assert shape_problems(broken, shape), damage
    enum_shape = MODEL.operation_model("DescribeRepositories").output_shape
    bad_enum = {"repositories": [{"repositoryName": "a", "imageTagMutability": "SOMETIMES"}]}
    assert any("enum" in p for p in shape_problems(bad_enum, enum_shape))
    missing = MODEL.operation_model("GetAuthorizationToken").output_shape
    assert shape_problems({"authorizationData": [{}], "extra": 1}, missing)
    required = MODEL.operation_model("GetRepositoryPolicy").output_shape
    assert shape_problems({"registryId": "123456789012"}, required) == []
    assert shape_problems({"registryId": 1}, required)


# -- the server and a client whose raw responses we keep ---------------------------------------
@pytest.fixture(scope="module")
def key(registry, e2e_target):
    return ecr_key(registry, e2e_target)


@pytest.fixture(scope="module")
def ecr(registry, key):
    return ecr_client(registry.url, key, parameter_validation=False)


class Walk:
    """Calls every served operation in an order that builds the state the next ones need."""

    def __init__(self, ecr, registry):
        self.ecr, self.registry = ecr, registry
        self.raw: dict[str, list[tuple[int, bytes]]] = {}
        self.errors: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        ecr.meta.events.register("after-call.ecr", self._keep)

    def _keep(self, http_response, model, **_):
        self.raw.setdefault(model.name, []).append((http_response.status_code, http_response.content))

    def call(self, operation: str, build: Callable[[], dict]) -> dict | None:
        try:
            params = build()
            return self.ecr._make_api_call(operation, params)
        except Exception as exc:  # recorded, reported by the operation's test
            self.errors.setdefault(operation, f"{type(exc).__name__}: {exc}")
            return None


def _upload(walk: Walk, data: bytes) -> str:
    upload = walk.call("InitiateLayerUpload", lambda: {"repositoryName": REPO})
    upload_id = upload["uploadId"]
    walk.call("UploadLayerPart", lambda: {
        "repositoryName": REPO, "uploadId": upload_id, "partFirstByte": 0,
        "partLastByte": len(data) - 1, "layerPartBlob": data})
    walk.call("CompleteLayerUpload", lambda: {
        "repositoryName": REPO, "uploadId": upload_id, "layerDigests": [digest_of(data)]})
    return digest_of(data)


def _scanned(walk: Walk, tag: str) -> None:
    """Until the image's scan has ended (its layer is not a tar archive: FAILED)."""
    def ended() -> bool:
        found = walk.ecr.describe_image_scan_findings(repositoryName=REPO,
                                                      imageId={"imageTag": tag})
        return found["imageScanStatus"]["status"] != "IN_PROGRESS"
    assert wait_until(ended, 60, 0.2), "the scan never ended"


def _signing_ended(walk: Walk, tag: str) -> None:
    """Until the image's signing has ended (FAILED: its profile does not exist)."""
    def ended() -> bool:
        found = walk.ecr.describe_image_signing_status(
            repositoryName=REPO, imageId={"imageTag": tag})["signingStatuses"]
        return [s["status"] for s in found] == ["FAILED"]
    assert wait_until(ended, 60, 0.2), "the signing never ended"


@pytest.fixture(scope="module")
def walk(ecr, registry) -> Walk:
    w = Walk(ecr, registry)
    s = w.state
    w.call("GetAuthorizationToken", lambda: {})
    account = w.call("DescribeRegistry", lambda: {})["registryId"]
    created = w.call("CreateRepository", lambda: {
        "repositoryName": REPO, "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "tags": [{"Key": "team", "Value": "model"}]})
    arn = created["repository"]["repositoryArn"]

    # An image pushed over HTTP (the OCI door): config + one layer, tag v1.
    session = requests.Session()
    session.auth = registry.auth
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"layer pushed over HTTP for the model walk\n"
    s["v1"] = push_image(session, registry.url, REPO, "v1", config, [layer])
    manifest_v1 = session.get(f"{registry.url}/v2/{REPO}/manifests/v1",
                              headers={"Accept": OCI_MANIFEST}, timeout=30).content
    session.close()

    # Layers through the ECR door, then PutImage of an image and of a referrer to v1.
    own_layer = _upload(w, b"layer uploaded with UploadLayerPart\n")
    empty = _upload(w, b"{}")
    w.call("BatchCheckLayerAvailability", lambda: {
        "repositoryName": REPO, "layerDigests": [own_layer, "sha256:" + "1" * 64]})
    v2 = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                     "digest": digest_of(config), "size": len(config)},
          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                      "digest": own_layer, "size": len(b"layer uploaded with UploadLayerPart\n")}]}
    w.call("PutImage", lambda: {"repositoryName": REPO, "imageTag": "v2",
                                "imageManifest": json.dumps(v2),
                                "imageManifestMediaType": OCI_MANIFEST})
    referrer = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2},
                "layers": [{"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": s["v1"],
                            "size": len(manifest_v1)},
                "annotations": {"org.example.kind": "sbom"}}
    w.call("PutImage", lambda: {"repositoryName": REPO, "imageManifest": json.dumps(referrer),
                                "imageManifestMediaType": OCI_MANIFEST})

    w.call("ListImages", lambda: {"repositoryName": REPO})
    w.call("DescribeImages", lambda: {"repositoryName": REPO})
    w.call("BatchGetImage", lambda: {"repositoryName": REPO,
                                     "imageIds": [{"imageTag": "v1"}, {"imageTag": "absent"}],
                                     "acceptedMediaTypes": [OCI_MANIFEST]})
    w.call("GetDownloadUrlForLayer", lambda: {"repositoryName": REPO, "layerDigest": own_layer})
    w.call("ListImageReferrers", lambda: {"repositoryName": REPO,
                                          "subjectId": {"imageDigest": s["v1"]}})

    w.call("DescribeRepositories", lambda: {"repositoryNames": [REPO]})
    w.call("PutImageTagMutability", lambda: {"repositoryName": REPO,
                                             "imageTagMutability": "MUTABLE"})
    w.call("PutImageScanningConfiguration", lambda: {
        "repositoryName": REPO, "imageScanningConfiguration": {"scanOnPush": False}})
    w.call("PutRegistryScanningConfiguration", lambda: {"scanType": "BASIC", "rules": [
        {"scanFrequency": "SCAN_ON_PUSH",
         # not this repository: a scan on push would use up the image's one scan a day
         "repositoryFilters": [{"filter": "elsewhere/*", "filterType": "WILDCARD"}]}]})
    w.call("GetRegistryScanningConfiguration", lambda: {})
    w.call("BatchGetRepositoryScanningConfiguration", lambda: {
        "repositoryNames": [REPO, "ecr-model/absent"]})
    w.call("StartImageScan", lambda: {"repositoryName": REPO, "imageId": {"imageTag": "v2"}})
    _scanned(w, "v2")
    w.call("DescribeImageScanFindings", lambda: {"repositoryName": REPO,
                                                 "imageId": {"imageTag": "v2"}})
    w.call("PutRegistryScanningConfiguration", lambda: {"scanType": "BASIC", "rules": []})
    w.call("TagResource", lambda: {"resourceArn": arn, "tags": [{"Key": "tier", "Value": "1"}]})
    w.call("ListTagsForResource", lambda: {"resourceArn": arn})
    w.call("UntagResource", lambda: {"resourceArn": arn, "tagKeys": ["tier"]})

    repo_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    w.call("SetRepositoryPolicy", lambda: {"repositoryName": REPO, "policyText": repo_policy})
    w.call("GetRepositoryPolicy", lambda: {"repositoryName": REPO})
    w.call("DeleteRepositoryPolicy", lambda: {"repositoryName": REPO})
    registry_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "replicate", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": f"arn:aws:ecr:us-east-1:{account}:repository/*"}]})
    w.call("PutRegistryPolicy", lambda: {"policyText": registry_policy})
    w.call("GetRegistryPolicy", lambda: {})
    w.call("DeleteRegistryPolicy", lambda: {})
    lifecycle_policy = json.dumps({"rules": [{
        "rulePriority": 1, "description": "expire untagged images after a day",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                      "countUnit": "days", "countNumber": 1},
        "action": {"type": "expire"}}]})
    w.call("PutLifecyclePolicy", lambda: {"repositoryName": REPO,
                                          "lifecyclePolicyText": lifecycle_policy})
    w.call("GetLifecyclePolicy", lambda: {"repositoryName": REPO})
    w.call("StartLifecyclePolicyPreview", lambda: {"repositoryName": REPO})
    w.call("GetLifecyclePolicyPreview", lambda: {"repositoryName": REPO})
    w.call("DeleteLifecyclePolicy", lambda: {"repositoryName": REPO})
    for storage_class in ("ARCHIVE", "STANDARD"):
        w.call("UpdateImageStorageClass", lambda: {
            "repositoryName": REPO, "imageId": {"imageTag": "v1"},
            "targetStorageClass": storage_class})
    scanner = f"arn:aws:iam::{account}:user/scanner"
    w.call("RegisterPullTimeUpdateExclusion", lambda: {"principalArn": scanner})
    w.call("ListPullTimeUpdateExclusions", lambda: {})
    w.call("DeregisterPullTimeUpdateExclusion", lambda: {"principalArn": scanner})
    w.call("CreateRepositoryCreationTemplate", lambda: {
        "prefix": "ecr-model-templates", "appliedFor": ["REPLICATION"],
        "description": "walked", "lifecyclePolicy": lifecycle_policy,
        "repositoryPolicy": repo_policy, "resourceTags": [{"Key": "k", "Value": "v"}],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "v*"}]})
    w.call("DescribeRepositoryCreationTemplates", lambda: {})
    w.call("UpdateRepositoryCreationTemplate", lambda: {
        "prefix": "ecr-model-templates", "appliedFor": ["REPLICATION", "PULL_THROUGH_CACHE"]})
    w.call("DeleteRepositoryCreationTemplate", lambda: {"prefix": "ecr-model-templates"})
    cache = {"ecrRepositoryPrefix": "ecr-model-cache"}
    w.call("CreatePullThroughCacheRule", lambda: {
        **cache, "upstreamRegistryUrl": "127.0.0.1:1",  # nothing listens there
        "credentialArn": _cache_secret(w.registry, account),
        "customRoleArn": f"arn:aws:iam::{account}:role/ecr-model",
        "upstreamRepositoryPrefix": "library"})
    w.call("DescribePullThroughCacheRules", lambda: {})
    w.call("UpdatePullThroughCacheRule", lambda: {
        **cache, "upstreamRoleArn": f"arn:aws:iam::{account}:role/ecr-model-upstream"})
    w.call("DescribePullThroughCacheRules", lambda: {"ecrRepositoryPrefixes": ["ecr-model-cache"],
                                                     "maxResults": 1})
    w.call("ValidatePullThroughCacheRule", lambda: cache)
    w.call("DeletePullThroughCacheRule", lambda: cache)
    w.call("PutReplicationConfiguration", lambda: {"replicationConfiguration": {"rules": [{
        "destinations": [{"region": "us-east-1", "registryId": "123456789012"}],
        "repositoryFilters": [{"filter": "ecr-model", "filterType": "PREFIX_MATCH"}]}]}})
    w.call("DescribeRegistry", lambda: {})
    w.call("DescribeImageReplicationStatus", lambda: {"repositoryName": REPO,
                                                      "imageId": {"imageTag": "v1"}})
    destination = {"region": "us-east-1", "registryId": "123456789012"}
    started = w.call("StartReplicationBackfill", lambda: {"destination": destination})
    w.call("ListReplicationBackfills", lambda: {})
    w.call("DescribeReplicationBackfillResults", lambda: {
        "replicationBackfillId": started["replicationBackfillId"]})
    w.call("StopReplicationBackfill", lambda: {"replicationBackfillId": _held_backfill(
        w.registry, account, destination)})
    w.call("PutReplicationConfiguration", lambda: {"replicationConfiguration": {"rules": []}})
    # Managed signing, its profile absent: the image's status is FAILED with the reason.
    profile = f"arn:aws:signer:us-east-1:{account}:/signing-profiles/absent_profile"
    w.call("PutSigningConfiguration", lambda: {"signingConfiguration": {"rules": [{
        "signingProfileArn": profile,
        "repositoryFilters": [{"filter": "ecr-model/*", "filterType": "WILDCARD_MATCH"}]}]}})
    w.call("GetSigningConfiguration", lambda: {})
    signed = {**v2, "annotations": {"org.example.signed": "yes"}}
    w.call("PutImage", lambda: {"repositoryName": REPO, "imageTag": "signed",
                                "imageManifest": json.dumps(signed),
                                "imageManifestMediaType": OCI_MANIFEST})
    _signing_ended(w, "signed")
    w.call("DescribeImageSigningStatus", lambda: {"repositoryName": REPO,
                                                  "imageId": {"imageTag": "signed"}})
    w.call("DeleteSigningConfiguration", lambda: {})
    w.call("GetAccountSetting", lambda: {"name": "BLOB_MOUNTING"})
    w.call("PutAccountSetting", lambda: {"name": "BLOB_MOUNTING", "value": "DISABLED"})

    w.call("BatchDeleteImage", lambda: {"repositoryName": REPO,
                                        "imageIds": [{"imageTag": "v2"}, {"imageTag": "absent"}]})
    w.call("DeleteRepository", lambda: {"repositoryName": REPO, "force": True})
    return w


def _cache_secret(registry, account: str) -> str:
    """The ARN of a pull-through cache secret of the account (as `berth admin secrets put`
    makes it: sealed with the deployment's master key)."""
    settings = Settings(data_dir=registry.data_dir)
    db = Database(settings.database_url)
    try:
        master = open_iam(settings, db).identities.master
        return SecretService(db, master).put(account, "us-east-1", "ecr-pullthroughcache/model",
                                             json.dumps({"username": "walker",
                                                         "accessToken": "token"})).arn
    finally:
        db.dispose()


def _held_backfill(registry, account: str, destination: dict) -> str:
    """A backfill that stays in progress whatever the server's jobs do (one to stop)."""
    db = Database(Settings(data_dir=registry.data_dir).database_url)
    try:
        with db.read() as tx:
            registry_id = registry_rows.registry_id(tx, account, "us-east-1")
        return held_backfill(db, registry_id, "eu-north-1", destination["registryId"],
                             "ecr-model-held")
    finally:
        db.dispose()


@pytest.mark.parametrize("operation", SERVED)
def test_a_served_operation_answers_its_output_shape(walk: Walk, operation: str):
    assert operation in MODEL.operation_names
    assert operation not in walk.errors, walk.errors[operation]
    assert walk.raw.get(operation), f"{operation} is served but the walk never calls it"
    output = MODEL.operation_model(operation).output_shape
    for status, content in walk.raw[operation]:
        assert status == 200, content
        body = json.loads(content) if content.strip() else {}
        if output is None:
            assert body == {}, body
            continue
        assert shape_problems(body, output) == [], json.dumps(body, indent=1)[:4000]


def test_the_walk_left_meaningful_answers(walk: Walk):
    """Not just shapes: the calls saw the state they were built on."""
    def last(operation):
        return json.loads(walk.raw[operation][-1][1])
    described = last("DescribeImages")["imageDetails"]
    assert {d["imageDigest"] for d in described} >= {walk.state["v1"]}
    assert any(d.get("imageTags") == ["v2"] for d in described)
    assert [r["digest"] for r in last("ListImageReferrers")["referrers"]] != []
    checked = last("BatchCheckLayerAvailability")
    assert len(checked["layers"]) == 1 and len(checked["failures"]) == 1
    got = last("BatchGetImage")
    assert len(got["images"]) == 1 and [f["failureCode"] for f in got["failures"]] == ["ImageNotFound"]
    deleted = last("BatchDeleteImage")
    assert len(deleted["imageIds"]) == 1 and len(deleted["failures"]) == 1
    rule = last("DescribePullThroughCacheRules")["pullThroughCacheRules"]
    assert [(r["ecrRepositoryPrefix"], "updatedAt" in r) for r in rule] == [
        ("ecr-model-cache", True)]
    [status] = last("DescribeImageSigningStatus")["signingStatuses"]
    assert (status["status"], status["failureCode"]) == ("FAILED", "SIGNING_PROFILE_NOT_FOUND")
    validated = last("ValidatePullThroughCacheRule")
    assert validated["isValid"] is False and validated["failure"]


# -- the operations Berth does not serve -------------------------------------------------------
def _signed_post(url: str, key, operation: str, body: bytes = b"{}") -> requests.Response:
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": JSON_11,
        "X-Amz-Target": f"{MODEL.metadata['targetPrefix']}.{operation}"})
    SigV4Auth(Credentials(key.id, key.secret), "ecr", "us-east-1").add_auth(request)
    return requests.post(url + "/", data=body, headers=dict(request.headers.items()), timeout=30)


def test_every_model_operation_is_served():
    assert NOT_SERVED == [], NOT_SERVED
    assert UNKNOWN not in MODEL.operation_names


@pytest.mark.parametrize("operation", [*NOT_SERVED, UNKNOWN])
def test_an_unserved_operation_answers_unknown_operation(registry, key, ecr, operation: str):
    response = _signed_post(registry.url, key, operation)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith(JSON_11), response.headers
    body = response.json()
    assert set(body) == {"__type", "message"}, body
    assert body["__type"] == "UnknownOperationException", body
    assert isinstance(body["message"], str) and body["message"], body
    assert response.headers.get("x-amzn-ErrorType", "").startswith("UnknownOperationException")
    assert response.headers.get("x-amzn-RequestId")
    if operation == UNKNOWN:
        return  # boto3 cannot call what its model lacks
    # And as boto3 users see it.
    with pytest.raises(ClientError) as caught:
        ecr._make_api_call(operation, {})
    error = caught.value.response
    assert error["Error"]["Code"] == "UnknownOperationException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_timestamps_in_the_walk_are_recent(walk: Walk):
    now = time.time()
    pushed = [d["imagePushedAt"] for d in json.loads(walk.raw["DescribeImages"][-1][1])["imageDetails"]]
    created = json.loads(walk.raw["CreateRepository"][-1][1])["repository"]["createdAt"]
    for when in (*pushed, created):
        assert now - 3600 <= when <= now + 60, when
