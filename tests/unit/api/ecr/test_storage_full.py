"""The ECR API on a full disk (a tmpfs holding the data directory: blobs, and on SQLite the
metadata too): reads answer as ever; layer parts and images are refused with ECR's error for
a service limit (LimitExceededException, saying the storage is full), never ServerException;
once space is freed, pushes work again."""
from __future__ import annotations

import hashlib
import os
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.metadata_templates import DATABASES, fresh_database
from tests.support.tmpfs import fill, tmpfs, truncate_wal
from tests.unit.api.ecr.support import REGION, error_of, full_app

MIB = 1024 * 1024
REPO = "team/app"


@pytest.fixture(params=DATABASES)
def server(request, tmp_path) -> Iterator:
    with tmpfs(tmp_path / "data", "6m") as data_dir:
        with fresh_database(request, request.param, data_dir) as database:
            with full_app(data_dir, database) as running:
                running.database = request.param
                running.data_dir = data_dir
                yield running


def assert_limit(caught) -> None:
    code, message = error_of(caught)
    assert code == "LimitExceededException", (code, message)
    assert "storage is full" in message
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def client(server):
    """No retry: botocore retries LimitExceededException as a throttling error."""
    key = server.admin
    return boto3.session.Session().client(
        "ecr", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key.id,
        aws_secret_access_key=key.secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def test_full_disk(server):
    ecr = client(server)
    server.push(REPO, "v1")
    upload_id = ecr.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    if server.database == "sqlite":
        truncate_wal(server.data_dir / "metadata.db")
    filler = fill(server.data_dir)

    # -- reads: as ever ---------------------------------------------------------------------
    [detail] = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    assert detail["imageTags"] == ["v1"]
    got = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert [i["imageId"]["imageTag"] for i in got["images"]] == ["v1"]  # its pull time fails
    assert ecr.list_images(repositoryName=REPO)["imageIds"]
    assert ecr.describe_repositories()["repositories"][0]["repositoryName"] == REPO

    # -- pushes: LimitExceededException -------------------------------------------------
    part = os.urandom(2 * MIB)
    with pytest.raises(ClientError) as caught:
        ecr.upload_layer_part(repositoryName=REPO, uploadId=upload_id, partFirstByte=0,
                              partLastByte=len(part) - 1, layerPartBlob=part)
    assert_limit(caught)
    uploads = server.data_dir / "blobs" / "uploads"
    assert {p.name: p.stat().st_size for p in uploads.iterdir() if p.stat().st_size} == {}
    body = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])[
        "images"][0]["imageManifest"]
    if server.database == "sqlite":
        with pytest.raises(ClientError) as caught:
            ecr.put_image(repositoryName=REPO, imageTag="v2", imageManifest=body)
        assert_limit(caught)
    else:  # the metadata is elsewhere, with room
        ecr.put_image(repositoryName=REPO, imageTag="v2", imageManifest=body)

    # -- space freed: pushes work again ---------------------------------------------------
    filler.unlink()
    # (registryId: not the very request made above, which replay protection would refuse)
    upload_id = ecr.initiate_layer_upload(repositoryName=REPO,
                                          registryId=server.account)["uploadId"]
    ecr.upload_layer_part(repositoryName=REPO, uploadId=upload_id, partFirstByte=0,
                          partLastByte=len(part) - 1, layerPartBlob=part)
    digest = "sha256:" + hashlib.sha256(part).hexdigest()
    ecr.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[digest])
    ecr.put_image(repositoryName=REPO, imageTag="v3", imageManifest=body)
    tags = {t for d in ecr.describe_images(repositoryName=REPO)["imageDetails"]
            for t in d.get("imageTags", [])}
    assert {"v1", "v3"} <= tags


@pytest.mark.parametrize("operation", ["PutImage", "UploadLayerPart", "InitiateLayerUpload",
                                       "CompleteLayerUpload", "CreateRepository"])
def test_storage_full_is_a_service_limit_for_every_operation(operation):
    from berth.api.ecr.translation import Where, translate
    from berth.storage.errors import BLOB_STORAGE, StorageFull

    error = translate(StorageFull(BLOB_STORAGE, "No space left on device"),
                      Where(operation, "123456789012", REPO, {}))
    assert error.code == "LimitExceededException" and error.status == 400
    assert "storage is full" in error.message and "No space left" in error.message
