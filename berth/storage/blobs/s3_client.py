"""boto3 plumbing shared by the S3 blob driver: the client, error codes, streamed reads and
server-side copies."""
from __future__ import annotations

import math
import os
from typing import Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024
MIN_PART = 5 * MIB             # every part but the last must be at least this
MAX_COPY = 5 * 1024 * MIB      # CopyObject and one UploadPartCopy copy at most this
MAX_PARTS = 10_000
# anyio runs blocking calls on up to 40 threads, each of which may hold a connection.
POOL_CONNECTIONS = 48

NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# A multipart upload that was completed or aborted: AWS says NoSuchUpload, radosgw 16.2 NoSuchKey.
UPLOAD_GONE = frozenset({"404", "NoSuchUpload", "NoSuchKey"})


def make_client(endpoint_url: str = "", region: str = "", **credentials: str):
    """An S3 client; credentials (unless given), and endpoint and region when empty, come
    from boto3's usual chain (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_S3, AWS_REGION, ...)."""
    custom_endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL")
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=POOL_CONNECTIONS,
        signature_version="s3v4",
        # S3-compatible stores (radosgw, MinIO, ...) serve buckets by path; AWS by host name.
        s3={"addressing_style": "path"} if custom_endpoint else None,
        # Only the checksums an operation requires: newer defaults break many S3-compatibles.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # AWS_REGION as the other AWS SDKs read it; botocore itself reads AWS_DEFAULT_REGION.
    region = region or os.environ.get("AWS_REGION", "")
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config,
        **credentials)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def head_size(s3, bucket: str, key: str) -> int | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def stream(body, chunk_size: int) -> Iterator[bytes]:
    """An S3 response body in pieces of at most ``chunk_size`` bytes; closed however it ends."""
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def copy_parts(s3, bucket: str, key: str, upload_id: str, source: str, start: int, end: int,
               first_part: int, max_copy: int = MAX_COPY) -> list[tuple[str, int]]:
    """UploadPartCopy of ``source`` bytes [start, end) as parts from ``first_part`` on, in
    even pieces of at most ``max_copy`` bytes; returns their (ETag, size)."""
    pieces = math.ceil((end - start) / max_copy)
    step = math.ceil((end - start) / pieces)
    parts = []
    for number, offset in enumerate(range(start, end, step), start=first_part):
        last = min(offset + step, end) - 1
        result = s3.upload_part_copy(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
            CopySource={"Bucket": bucket, "Key": source}, CopySourceRange=f"bytes={offset}-{last}")
        parts.append((result["CopyPartResult"]["ETag"], last - offset + 1))
    return parts


def complete(s3, bucket: str, key: str, upload_id: str, parts: list[tuple[str, int]]) -> None:
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag}
                                   for n, (etag, _) in enumerate(parts, start=1)]})


def abort_multipart(s3, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload; one already gone is not an error."""
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if error_code(exc) not in UPLOAD_GONE:
            raise
