"""Service quotas against the full app (both databases): a quota's value is the account's
override, else the deployment's, else ECR's default; past RegisteredRepositories,
ImagesPerRepository and MaximumLayerSizeMiB a request is refused through either door (ECR's
LimitExceededException / InvalidLayerException, the registry API's 403 DENIED) and nothing
of it is stored."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests
from botocore.exceptions import ClientError

from berth.quotas.models import QUOTAS, QuotaInvalid
from berth.quotas.services import DEPLOYMENT, QuotaService
from tests.unit.api.ecr.support import server_fixture

server = server_fixture("quotas")


@pytest.fixture
def tenant(server, request):
    """A fresh account with a user allowed everything in ECR, and its quota service."""
    suffix = hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    account, key = server.account_with_user(f"tenant-{suffix}")
    return account, key, QuotaService(server.state.registry.db)


def test_values_come_from_the_account_then_the_deployment_then_ecr(server, tenant):
    account, _, quotas = tenant
    def shown():
        return {q["QuotaName"]: (q["Value"], q["Source"]) for q in quotas.effective(account)}
    assert shown()["ImagesPerRepository"] == (10_000, "default")
    assert shown()["Rate:PutImage"] == (10, "default")
    quotas.put(DEPLOYMENT, "ImagesPerRepository", 500)
    try:
        assert shown()["ImagesPerRepository"] == (500, "deployment")
        quotas.put(account, "ImagesPerRepository", 7)
        assert shown()["ImagesPerRepository"] == (7, "account")
        quotas.delete(account, "ImagesPerRepository")
        assert shown()["ImagesPerRepository"] == (500, "deployment")
    finally:
        quotas.delete(DEPLOYMENT, "ImagesPerRepository")
    assert set(shown()) == set(QUOTAS)


@pytest.mark.parametrize("name, value", [("NoSuchQuota", 1), ("ImagesPerRepository", -1),
                                         ("ImagesPerRepository", "7"),
                                         ("ImagesPerRepository", 2 ** 63)])
def test_unknown_quotas_and_bad_values_are_refused(server, name, value):
    with pytest.raises(QuotaInvalid):
        QuotaService(server.state.registry.db).put(DEPLOYMENT, name, value)


def _ecr(server, key):
    return server.client(key)


def test_repositories_past_the_quota_are_refused(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "RegisteredRepositories", 2)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="one")
    ecr.create_repository(repositoryName="two")
    with pytest.raises(ClientError) as refused:
        ecr.create_repository(repositoryName="three")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert "(2 repositories)" in refused.value.response["Error"]["Message"]
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert sorted(names) == ["one", "two"]
    with pytest.raises(ClientError) as exists:  # an existing name is still "exists"
        ecr.create_repository(repositoryName="two")
    assert exists.value.response["Error"]["Code"] == "RepositoryAlreadyExistsException"


def _layer_manifest(ecr, repository: str, layer: bytes) -> str:
    """An image of one layer, its blobs uploaded through the ECR API; its manifest text."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    for blob in (config, layer):
        upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                              partLastByte=len(blob) - 1, layerPartBlob=blob)
        try:
            ecr.complete_layer_upload(repositoryName=repository, uploadId=upload,
                                      layerDigests=[_digest(blob)])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "LayerAlreadyExistsException":
                raise
    return json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": _descriptor("application/vnd.oci.image.config.v1+json",
                                             config),
                       "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar",
                                              layer)]})


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def test_images_past_the_quota_are_refused_through_both_doors(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "ImagesPerRepository", 2)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="app")
    for n in (1, 2):
        ecr.put_image(repositoryName="app", imageTag=f"v{n}",
                      imageManifest=_layer_manifest(ecr, "app", f"layer {n}".encode()))
    third = _layer_manifest(ecr, "app", b"layer 3")
    with pytest.raises(ClientError) as refused:
        ecr.put_image(repositoryName="app", imageTag="v3", imageManifest=third)
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    ecr.put_image(repositoryName="app", imageTag="again", imageManifest=_layer_manifest(
        ecr, "app", b"layer 1"))  # an image already there is no new image
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    import base64
    user, _, password = base64.b64decode(token).decode().partition(":")
    pushed = requests.put(f"{server.url}/v2/app/manifests/v3", data=third, timeout=30,
                          auth=(user, password), headers={
                              "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert pushed.status_code == 403 and pushed.json()["errors"][0]["code"] == "DENIED"
    assert "image quota (2 images)" in pushed.json()["errors"][0]["message"]
    tags = sorted(i.get("imageTag") for i in ecr.list_images(repositoryName="app")["imageIds"])
    assert tags == ["again", "v1", "v2"]


def test_tags_past_the_quota_are_refused_through_both_doors(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "TagsPerImage", 2)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="tagged")
    image = _layer_manifest(ecr, "tagged", b"tagged layer")
    for tag in ("a", "b"):
        ecr.put_image(repositoryName="tagged", imageTag=tag, imageManifest=image)
    with pytest.raises(ClientError) as refused:
        ecr.put_image(repositoryName="tagged", imageTag="c", imageManifest=image)
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert "tag quota (2 tags)" in refused.value.response["Error"]["Message"]
    user, password = _basic(ecr)
    pushed = requests.put(f"{server.url}/v2/tagged/manifests/d", data=image, timeout=30,
                          auth=(user, password), headers={
                              "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert pushed.status_code == 403 and pushed.json()["errors"][0]["code"] == "DENIED"
    other = _layer_manifest(ecr, "tagged", b"another layer")  # another image has its own
    ecr.put_image(repositoryName="tagged", imageTag="c", imageManifest=other)
    ecr.put_image(repositoryName="tagged", imageTag="a", imageManifest=other)  # a tag moves
    ecr.put_image(repositoryName="tagged", imageTag="e", imageManifest=image)  # room again
    tags = {i["imageTag"]: i["imageDigest"] for i in ecr.list_images(
        repositoryName="tagged", filter={"tagStatus": "TAGGED"})["imageIds"]}
    assert sorted(tags) == ["a", "b", "c", "e"]


def test_a_layer_past_the_size_quota_is_refused_and_not_stored(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "MaximumLayerSizeMiB", 1)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="big")
    layer = b"x" * (1024 * 1024 + 1)
    upload = ecr.initiate_layer_upload(repositoryName="big")["uploadId"]
    with pytest.raises(ClientError) as refused:  # the part that takes it past the quota
        ecr.upload_layer_part(repositoryName="big", uploadId=upload, partFirstByte=0,
                              partLastByte=len(layer) - 1, layerPartBlob=layer)
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    auth = _basic(ecr)
    pushed = requests.post(f"{server.url}/v2/big/blobs/uploads/?digest={_digest(layer)}",
                           data=layer, auth=auth, timeout=30,
                           headers={"Content-Type": "application/octet-stream"})
    assert pushed.status_code == 403 and pushed.json()["errors"][0]["code"] == "DENIED"
    assert "layer size quota of 1 MiB" in pushed.json()["errors"][0]["message"]
    found = ecr.batch_check_layer_availability(repositoryName="big",
                                               layerDigests=[_digest(layer)])
    assert found["layers"] == []
    assert found["failures"][0]["failureCode"] == "MissingLayerDigest"


def _basic(ecr) -> tuple[str, str]:
    import base64
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def test_storage_quotas_refuse_the_blob_that_would_pass_them(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "StorageBytesPerRepository", 3000)
    ecr = _ecr(server, key)
    for name in ("s1", "s2"):
        ecr.create_repository(repositoryName=name)

    def upload(repository: str, blob: bytes) -> None:
        started = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
        ecr.upload_layer_part(repositoryName=repository, uploadId=started, partFirstByte=0,
                              partLastByte=len(blob) - 1, layerPartBlob=blob)
        ecr.complete_layer_upload(repositoryName=repository, uploadId=started,
                                  layerDigests=[_digest(blob)])
    upload("s1", b"a" * 2000)
    with pytest.raises(ClientError) as refused:
        upload("s1", b"b" * 1001)
    # CompleteLayerUpload's model has no LimitExceededException: the layer is refused.
    assert refused.value.response["Error"]["Code"] == "InvalidLayerException"
    assert "past its storage quota of 3000 bytes" in refused.value.response["Error"]["Message"]
    upload("s1", b"c" * 1000)  # exactly at the quota
    quotas.delete(account, "StorageBytesPerRepository")
    quotas.put(account, "StorageBytesPerAccount", 4000)
    with pytest.raises(ClientError):
        upload("s2", b"d" * 1001)  # 3,000 in s1 + this: past the account's
    upload("s2", b"e" * 1000)
    listed = ecr.batch_check_layer_availability(repositoryName="s2", layerDigests=[
        _digest(b"d" * 1001), _digest(b"e" * 1000)])
    assert [layer["layerDigest"] for layer in listed["layers"]] == [_digest(b"e" * 1000)]


def test_a_growing_upload_is_refused_past_the_layer_size_quota(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "MaximumLayerSizeMiB", 1)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="growing")
    upload = ecr.initiate_layer_upload(repositoryName="growing")["uploadId"]
    part = b"y" * (700 * 1024)
    ecr.upload_layer_part(repositoryName="growing", uploadId=upload, partFirstByte=0,
                          partLastByte=len(part) - 1, layerPartBlob=part)
    with pytest.raises(ClientError) as refused:  # 1.4 MiB: past it before completion
        ecr.upload_layer_part(repositoryName="growing", uploadId=upload,
                              partFirstByte=len(part), partLastByte=2 * len(part) - 1,
                              layerPartBlob=part)
    # (boto3 retried it: LimitExceededException is a throttling code to the SDKs; refused
    # alike.) The upload stays at what it had, which may still be completed.
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    ecr.complete_layer_upload(repositoryName="growing", uploadId=upload,
                              layerDigests=[_digest(part)])


def test_layer_parts_past_the_quota_are_refused_on_the_ecr_api_only(server, tenant):
    account, key, quotas = tenant
    quotas.put(account, "LayerParts", 2)
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="parts")
    upload = ecr.initiate_layer_upload(repositoryName="parts")["uploadId"]
    first, part = b"f" * (5 * 1024 * 1024), b"p" * 1000  # ECR's minimum part, then a last
    ecr.upload_layer_part(repositoryName="parts", uploadId=upload, partFirstByte=0,
                          partLastByte=len(first) - 1, layerPartBlob=first)
    ecr.upload_layer_part(repositoryName="parts", uploadId=upload, partFirstByte=len(first),
                          partLastByte=len(first) + 999, layerPartBlob=part)
    with pytest.raises(ClientError) as refused:
        ecr.upload_layer_part(repositoryName="parts", uploadId=upload,
                              partFirstByte=len(first) + 1000,
                              partLastByte=len(first) + 1999, layerPartBlob=part)
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert "(2 parts)" in refused.value.response["Error"]["Message"]
    ecr.complete_layer_upload(repositoryName="parts", uploadId=upload,
                              layerDigests=[_digest(first + part)])
    auth = _basic(ecr)  # the registry API's chunks are no parts
    started = requests.post(f"{server.url}/v2/parts/blobs/uploads/", auth=auth, timeout=30)
    location = started.headers["Location"]
    for n in range(3):
        chunk = requests.patch(f"{server.url}{location}" if location.startswith("/")
                               else location, data=part, auth=auth, timeout=30, headers={
                                   "Content-Type": "application/octet-stream",
                                   "Content-Range": f"{n * 1000}-{n * 1000 + 999}"})
        assert chunk.status_code == 202, chunk.text
        location = chunk.headers["Location"]


def _lifecycle(rules: int) -> str:
    return json.dumps({"rules": [
        {"rulePriority": n + 1, "selection": {"tagStatus": "tagged", "tagPrefixList": [f"p{n}"],
                                              "countType": "imageCountMoreThan",
                                              "countNumber": 5},
         "action": {"type": "expire"}} for n in range(rules)]})


def test_lifecycle_rules_past_the_quota_are_refused(server, tenant):
    account, key, quotas = tenant
    ecr = _ecr(server, key)
    ecr.create_repository(repositoryName="ruled")
    ecr.put_lifecycle_policy(repositoryName="ruled", lifecyclePolicyText=_lifecycle(3))
    quotas.put(account, "LifecycleRulesPerPolicy", 2)
    with pytest.raises(ClientError) as refused:
        ecr.put_lifecycle_policy(repositoryName="ruled", lifecyclePolicyText=_lifecycle(3))
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "at most 2 rules" in refused.value.response["Error"]["Message"]
    stored = ecr.get_lifecycle_policy(repositoryName="ruled")["lifecyclePolicyText"]
    assert len(json.loads(stored)["rules"]) == 3  # the refused policy replaced nothing
    ecr.put_lifecycle_policy(repositoryName="ruled", lifecyclePolicyText=_lifecycle(2))
    quotas.put(account, "LifecycleRulesPerPolicy", 80)  # never past ECR's 50
    with pytest.raises(ClientError) as past_ecr:
        ecr.put_lifecycle_policy(repositoryName="ruled", lifecyclePolicyText=_lifecycle(51))
    assert "at most 50 rules" in past_ecr.value.response["Error"]["Message"]


def test_replication_rules_past_the_quota_are_refused(server, tenant):
    account, key, quotas = tenant
    ecr = _ecr(server, key)
    rule = {"destinations": [{"region": "eu-west-1", "registryId": account}]}
    quotas.put(account, "ReplicationRules", 1)
    with pytest.raises(ClientError) as refused:
        ecr.put_replication_configuration(replicationConfiguration={"rules": [rule, rule]})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "at most 1 rules" in refused.value.response["Error"]["Message"]
    ecr.put_replication_configuration(replicationConfiguration={"rules": [rule]})
    assert len(ecr.describe_registry()["replicationConfiguration"]["rules"]) == 1
