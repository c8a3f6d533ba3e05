"""Smoke tests of a real S3 implementation (Ceph radosgw, see tests/support/ceph.py; the session
`ceph` fixture is in tests/conftest.py) for the S3 blob driver."""
from __future__ import annotations

import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError


MIB = 1024 * 1024


@pytest.fixture
def s3(ceph):
    return ceph.client()


@pytest.fixture
def bucket(ceph):
    return ceph.create_bucket()


def test_bucket_create_and_list(ceph, s3):
    name = ceph.create_bucket()
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)


def test_put_get_20_mib(s3, bucket):
    body = os.urandom(20 * MIB)
    s3.put_object(Bucket=bucket, Key="blobs/big", Body=body)
    head = s3.head_object(Bucket=bucket, Key="blobs/big")
    assert head["ContentLength"] == len(body)
    got = s3.get_object(Bucket=bucket, Key="blobs/big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="blobs/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("blobs/big", len(body))]


def test_multipart_upload(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(MIB + 7)]  # last part may be short
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=data)["ETag"]
             for n, data in enumerate(parts, start=1)]
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(n, len(d)) for n, d in enumerate(parts, start=1)]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    got = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
    assert got == b"".join(parts)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_list_and_abort_multipart_upload(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MIB))
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("pending", upload_id)]
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # AWS answers NoSuchUpload; radosgw 16.2 answers NoSuchKey. The S3 driver must accept both.
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket=bucket, Key="pending", UploadId=upload_id)
    assert gone.value.response["Error"]["Code"] in ("NoSuchUpload", "NoSuchKey")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="pending")


def test_presigned_get(s3, bucket):
    body = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="signed", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "signed"}, ExpiresIn=300)
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == body
    unsigned = requests.get(url.split("?")[0], timeout=30)
    assert unsigned.status_code == 403


def test_ranged_get(s3, bucket):
    body = os.urandom(3 * MIB)
    s3.put_object(Bucket=bucket, Key="ranged", Body=body)
    response = s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=1048570-1048589")
    assert response["ContentRange"] == f"bytes 1048570-1048589/{len(body)}"
    assert response["Body"].read() == body[1048570:1048590]
    tail = s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=-10")["Body"].read()
    assert tail == body[-10:]
