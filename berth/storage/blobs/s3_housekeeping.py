"""Finding and removing S3 uploads by their folders alone, whatever their state knows: the
expiry sweep's view of uploads the metadata may have lost track of."""
from __future__ import annotations

import json
from typing import Iterator

from .s3_client import abort_multipart
from .s3_progress import Progress

MARKER = "started"   # an empty object: the upload exists
FINAL = "final-mpu"  # the multipart copy of a commit above 5 GiB, while it runs


def abort_upload(s3, bucket: str, folder: str, progress: Progress) -> None:
    """Remove everything of the upload in ``folder``: multipart uploads, the one a commit
    may have left at the blob's key, and objects; the marker last, so that until everything
    is gone the sweep still finds the upload."""
    mpus = {(u["Key"], u["UploadId"]) for u in multipart_uploads(s3, bucket, folder)}
    if progress.mpu_id:  # in case the listing lags
        mpus.add((folder + progress.mpu, progress.mpu_id))
    keys = [obj["Key"] for obj in objects(s3, bucket, folder)]
    if folder + FINAL in keys:
        record = json.loads(s3.get_object(Bucket=bucket, Key=folder + FINAL)["Body"].read())
        mpus.add((record["key"], record["id"]))
    for key, mpu_id in mpus:
        abort_multipart(s3, bucket, key, mpu_id)
    marker = folder + MARKER
    delete_keys(s3, bucket, [k for k in keys if k != marker])
    if marker in keys:
        delete_keys(s3, bucket, [marker])


def uploads_older_than(s3, bucket: str, root: str, timestamp: float) -> list[str]:
    """Upload ids under ``root`` none of whose objects or multipart uploads is newer."""
    touched: dict[str, float] = {}

    def note(key: str, when) -> None:
        upload_id = key[len(root):].split("/", 1)[0]
        touched[upload_id] = max(touched.get(upload_id, 0.0), when.timestamp())

    for obj in objects(s3, bucket, root):
        note(obj["Key"], obj["LastModified"])
    for upload in multipart_uploads(s3, bucket, root):
        note(upload["Key"], upload["Initiated"])
    return sorted(u for u, when in touched.items() if when < timestamp)


def objects(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", ())


def multipart_uploads(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Uploads", ())


def delete_keys(s3, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        result = s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
        if result.get("Errors"):
            raise OSError(f"S3 refused to delete {result['Errors'][:3]}")
