"""Berth's ECR API in end-to-end tests: the administrator's key and a boto3 client for a
running registry (the ``registry`` fixture), and a ``berth serve`` node for one test."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config

from tests.support.aws_retries import retry_throttling
from tests.support.berth_node import BerthNode
from tests.support.credentials import AccessKey, admin_key

REGION = "us-east-1"


def ecr_key(registry, e2e_target: str) -> AccessKey:
    """The administrator's key of ``registry``; skips the test unless the target is Berth."""
    if e2e_target != "berth":
        pytest.skip("the ECR API is Berth's")
    return admin_key(registry.data_dir)


def ecr_client(url: str, key: AccessKey, **config):
    """A boto3 ECR client for the server at ``url``, signing with ``key``, retrying nothing
    but ThrottlingException (tests/support/aws_retries.py)."""
    return retry_throttling(boto3.session.Session().client(
        "ecr", endpoint_url=url, region_name=REGION, aws_access_key_id=key.id,
        aws_secret_access_key=key.secret, config=Config(retries={"max_attempts": 1}, **config)))


@contextlib.contextmanager
def running_node(workdir: Path) -> Iterator[BerthNode]:
    """``berth serve`` on a fresh data directory under ``workdir``, stopped at the end."""
    node = BerthNode(workdir).start()
    try:
        yield node
    finally:
        node.stop()


def put_image(ecr, repository: str, image, tag: str) -> None:
    """Stores ``image`` (``tests.support.oci_layout.build_image``) through the ECR API: its
    config and layers by the layer upload operations, then its manifest by PutImage."""
    for blob in (image.config, *image.layers):
        upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload_id, partFirstByte=0,
                              partLastByte=blob.size - 1, layerPartBlob=blob.data)
        ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id,
                                  layerDigests=[blob.digest])
    ecr.put_image(repositoryName=repository, imageTag=tag,
                  imageManifest=image.manifest.data.decode())
