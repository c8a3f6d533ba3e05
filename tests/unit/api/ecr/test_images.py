"""Image operations through the ECR API: boto3 against the full app served by uvicorn, on the
same data the OCI routes serve."""
from __future__ import annotations

import json
import time

import pytest

from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.references import Digest
from tests.support.registry_images import CONFIG_TYPE
from tests.unit.api.ecr.support import error_of as _error, repo_fixture, server_fixture

server = server_fixture("ecr-images")
repo = repo_fixture("img/")


def test_list_images_one_entry_per_tag_and_untagged_once(server, repo):
    a = server.push(repo, "a", b"one")
    server.state.registry.manifests.put(repo, "b", server.manifest(repo, b"one"), OCI_MANIFEST)
    untagged = server.push(repo, "gone", b"two")
    server.state.registry.manifests.delete(repo, "gone")
    client = server.client()
    ids = client.list_images(repositoryName=repo)["imageIds"]
    assert sorted(ids, key=str) == sorted([{"imageDigest": a, "imageTag": "a"},
                                           {"imageDigest": a, "imageTag": "b"},
                                           {"imageDigest": untagged}], key=str)
    tagged = client.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert len(tagged["imageIds"]) == 2
    assert client.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})[
        "imageIds"] == [{"imageDigest": untagged}]


def test_list_images_paginates_with_opaque_tokens(server, repo):
    for i in range(5):
        server.push(repo, f"t{i}", f"layer{i}".encode())
    client = server.client()
    pages = client.get_paginator("list_images").paginate(
        repositoryName=repo, PaginationConfig={"PageSize": 2})
    seen = [i["imageTag"] for page in pages for i in page["imageIds"]]
    assert sorted(seen) == [f"t{i}" for i in range(5)]
    first = client.list_images(repositoryName=repo, maxResults=2)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_images(repositoryName=repo, nextToken="not-a-token")
    with pytest.raises(client.exceptions.InvalidParameterException):  # another filter's
        client.list_images(repositoryName=repo, nextToken=first["nextToken"],
                           filter={"tagStatus": "TAGGED"})


def test_missing_repository(server):
    client = server.client()
    with pytest.raises(client.exceptions.RepositoryNotFoundException) as caught:
        client.list_images(repositoryName="img/none")
    assert _error(caught)[1] == (f"The repository with name 'img/none' does not exist in the "
                                 f"registry with id '{server.account}'")


def test_describe_images(server, repo):
    before = time.time()
    digest = server.push(repo, "v1", b"describe")
    client = server.client()
    [detail] = client.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["v1"]
    assert detail["registryId"] == server.account and detail["repositoryName"] == repo
    assert detail["imageManifestMediaType"] == OCI_MANIFEST
    assert detail["artifactMediaType"] == CONFIG_TYPE
    config_len = len(json.dumps({"architecture": "amd64", "os": "linux"}))
    size = len(server.manifest(repo, b"describe")) + len(b"describe") + config_len
    assert detail["imageSizeInBytes"] == size
    assert before - 1 <= detail["imagePushedAt"].timestamp() <= time.time() + 1
    assert "lastRecordedPullTime" not in detail
    by_tag = client.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert by_tag["imageDetails"][0]["imageDigest"] == digest


def test_describe_missing_image_raises_for_the_first(server, repo):
    server.push(repo, "v1")
    client = server.client()
    with pytest.raises(client.exceptions.ImageNotFoundException) as caught:
        client.describe_images(repositoryName=repo,
                               imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
    assert _error(caught)[1] == (
        "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within "
        f"the repository with name '{repo}' in the registry with id '{server.account}'")


def test_batch_get_image_records_the_pull(server, repo):
    digest = server.push(repo, "v1")
    client = server.client()
    got = client.batch_get_image(repositoryName=repo, imageIds=[
        {"imageTag": "v1"}, {"imageDigest": digest}, {"imageTag": "nope"},
        {"imageDigest": "sha256:zz"}, {"imageTag": "v1", "imageDigest": "sha256:" + "0" * 64}])
    images, failures = got["images"], got["failures"]
    assert [i["imageId"] for i in images] == [{"imageDigest": digest, "imageTag": "v1"},
                                              {"imageDigest": digest}]
    assert json.loads(images[0]["imageManifest"])["mediaType"] == OCI_MANIFEST
    assert images[0]["imageManifestMediaType"] == OCI_MANIFEST
    assert [f["failureCode"] for f in failures] == [
        "ImageNotFound", "InvalidImageDigest", "ImageTagDoesNotMatchDigest"]
    assert failures[0]["failureReason"] == "Requested image not found"
    [detail] = client.describe_images(repositoryName=repo)["imageDetails"]
    assert abs(detail["lastRecordedPullTime"].timestamp() - time.time()) < 60
    refused = client.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}],
                                     acceptedMediaTypes=[OCI_INDEX])
    assert refused["images"] == [] and refused["failures"][0]["failureCode"] == (
        "UnsupportedImageType")


def test_put_image(server, repo):
    client = server.client()
    body = server.manifest(repo, b"put").decode()
    put = client.put_image(repositoryName=repo, imageManifest=body, imageTag="v1")["image"]
    digest = str(Digest.of(body.encode()))
    assert put["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert put["imageManifestMediaType"] == OCI_MANIFEST
    with pytest.raises(client.exceptions.ImageAlreadyExistsException) as caught:
        client.put_image(repositoryName=repo, imageManifest=body, imageTag="v1")
    assert _error(caught)[1] == (
        f"Image with digest '{digest}' and tag 'v1' already exists in the repository with "
        f"name '{repo}' in registry with id '{server.account}'")
    client.put_image(repositoryName=repo, imageManifest=body, imageTag="v2",
                     imageDigest=digest)
    tags = client.describe_images(repositoryName=repo)["imageDetails"][0]["imageTags"]
    assert sorted(tags) == ["v1", "v2"]


def test_put_image_refusals(server, repo):
    client = server.client()
    body = server.manifest(repo, b"refusals").decode()
    with pytest.raises(client.exceptions.ImageDigestDoesNotMatchException):
        client.put_image(repositoryName=repo, imageManifest=body,
                         imageDigest="sha256:" + "0" * 64)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_image(repositoryName=repo, imageManifest="{not json")
    doc = json.loads(body)
    del doc["mediaType"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_image(repositoryName=repo, imageManifest=json.dumps(doc))
    doc["layers"][0]["digest"] = missing = "sha256:" + "1" * 64
    with pytest.raises(client.exceptions.LayersNotFoundException) as caught:
        client.put_image(repositoryName=repo, imageManifest=json.dumps(doc),
                         imageManifestMediaType=OCI_MANIFEST, imageTag="x")
    assert _error(caught)[1] == (
        f"Layers with digests '[{missing}]' required for pushing image into repository "
        f"with name '{repo}' in the registry with id '{server.account}' do not exist")
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.put_image(repositoryName="img/absent", imageManifest=body)


def test_put_image_on_an_immutable_tag(server, repo):
    client = server.client()
    client.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE")
    client.put_image(repositoryName=repo, imageTag="v1",
                     imageManifest=server.manifest(repo, b"first").decode())
    with pytest.raises(client.exceptions.ImageTagAlreadyExistsException) as caught:
        client.put_image(repositoryName=repo, imageTag="v1",
                         imageManifest=server.manifest(repo, b"second").decode())
    assert _error(caught)[1] == (
        f"The image tag 'v1' already exists in the '{repo}' repository and cannot be "
        "overwritten because the repository is immutable.")


def test_batch_delete_image(server, repo):
    a = server.push(repo, "a", b"del-a")
    server.state.registry.manifests.put(repo, "a2", server.manifest(repo, b"del-a"),
                                        OCI_MANIFEST)
    b = server.push(repo, "b", b"del-b")
    client = server.client()
    out = client.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "a"}])
    assert out["imageIds"] == [{"imageDigest": a, "imageTag": "a"}] and out["failures"] == []
    out = client.batch_delete_image(repositoryName=repo, imageIds=[
        {"imageTag": "a2"}, {"imageDigest": b}, {"imageTag": "nope"}, {}])
    assert out["imageIds"] == [{"imageDigest": a, "imageTag": "a2"},
                               {"imageDigest": b, "imageTag": "b"}]
    assert [f["failureCode"] for f in out["failures"]] == ["ImageNotFound",
                                                           "MissingDigestAndTag"]
    assert client.list_images(repositoryName=repo)["imageIds"] == []


def test_index_children_cannot_be_deleted_while_listed(server, repo):
    child = server.push(repo, "child")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child,
         "size": len(server.manifest(repo))}]})
    client = server.client()
    client.put_image(repositoryName=repo, imageManifest=body, imageTag="index")
    out = client.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "child"}])
    assert out["failures"][0]["failureCode"] == "ImageReferencedByManifestList"
    assert out["failures"][0]["failureReason"].startswith(
        "Requested image referenced by manifest list: [sha256:")


def test_list_image_referrers(server, repo):
    subject = server.push(repo, "subject")
    config = b"{}"
    server.blobs(repo, config)
    sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "artifactType": "application/vnd.example.sig",
                      "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                 "digest": str(Digest.of(config)), "size": 2},
                      "layers": [], "annotations": {"a": "b"},
                      "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                  "size": len(server.manifest(repo))}})
    client = server.client()
    client.put_image(repositoryName=repo, imageManifest=sig)
    [ref] = client.list_image_referrers(repositoryName=repo,
                                        subjectId={"imageDigest": subject})["referrers"]
    assert ref["artifactType"] == "application/vnd.example.sig"
    assert ref["digest"] == str(Digest.of(sig.encode())) and ref["annotations"] == {"a": "b"}
    none = client.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": subject},
                                       filter={"artifactTypes": ["other/type"]})
    assert none["referrers"] == []


def test_actions_are_authorized(server, repo):
    key = server.user("images-reader", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:ListImages", "Resource": "*"}]})
    client = server.client(key)
    client.list_images(repositoryName=repo)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.describe_images(repositoryName=repo)
    assert _error(caught)[0] == "AccessDeniedException"
