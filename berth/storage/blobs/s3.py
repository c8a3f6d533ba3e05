"""Blobs in an S3 bucket (AWS, or S3-compatible stores such as Ceph's RADOS gateway).

``s3://bucket/prefix``: committed blobs under ``<prefix>/data/<key>``, uploads under
``<prefix>/uploads/`` (s3_uploads.py). Reads are ranged GETs streamed in chunks; pulls can
be sent to the bucket itself with presigned URLs.
"""
from __future__ import annotations

from typing import Iterator
from urllib.parse import unquote, urlparse

from botocore.exceptions import ClientError

from .base import (READ_CHUNK, BlobDriver, BlobNotFound, StoredObject, UploadState,
                   UploadWriter, check_prefix)
from .s3_client import MAX_COPY, MIN_PART, NOT_FOUND, error_code, head_size, make_client, stream
from .s3_housekeeping import objects
from .s3_uploads import S3Uploads

DEFAULT_PART_SIZE = 8 * 1024 * 1024


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; the prefix is "" or ends in "/"."""
    parsed = urlparse(url)
    if (parsed.scheme != "s3" or not parsed.hostname or parsed.username or parsed.port
            or parsed.query or parsed.fragment or parsed.params):
        raise ValueError(f"invalid S3 storage URL {url!r} (expected s3://bucket/prefix)")
    prefix = unquote(parsed.path).strip("/")
    if ".." in prefix.split("/") or "//" in prefix:
        raise ValueError(f"invalid prefix in S3 storage URL {url!r}")
    return parsed.netloc, prefix + "/" if prefix else ""


class S3Driver(BlobDriver):
    name = "s3"

    def __init__(self, client, bucket: str, prefix: str = "",
                 part_size: int = DEFAULT_PART_SIZE, redirect: bool = True):
        if not MIN_PART <= part_size <= MAX_COPY:
            raise ValueError(f"S3 part size {part_size} is outside {MIN_PART}..{MAX_COPY}")
        self.s3 = client
        self.bucket = bucket
        self.prefix = prefix
        self.redirect = redirect
        self.uploads = S3Uploads(client, bucket, f"{prefix}uploads/", part_size)

    @classmethod
    def from_url(cls, url: str, endpoint_url: str = "", region: str = "",
                 part_size: int = DEFAULT_PART_SIZE, redirect: bool = True) -> "S3Driver":
        bucket, prefix = parse_url(url)
        return cls(make_client(endpoint_url, region), bucket, prefix, part_size, redirect)

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return f"{self.prefix}data/{key}"

    # -- committed blobs -----------------------------------------------------------------
    def stat(self, key: str) -> int | None:
        return head_size(self.s3, self.bucket, self._key(key))

    def read(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        object_key = self._key(key)
        if length == 0:
            if self.stat(key) is None:
                raise BlobNotFound(key)
            return iter(())
        args = {"Bucket": self.bucket, "Key": object_key}
        if offset or length is not None:  # S3 refuses any range of an empty object
            end = "" if length is None else offset + length - 1
            args["Range"] = f"bytes={offset}-{end}"
        try:
            body = self.s3.get_object(**args)["Body"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise BlobNotFound(key) from None
            if error_code(exc) == "InvalidRange":  # starts past the end: nothing to read
                return iter(())
            raise
        return stream(body, chunk_size)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_many(self, keys: list[str]) -> list[str]:
        """DeleteObjects, up to 1,000 keys a request."""
        failed = []
        for start in range(0, len(keys), 1000):
            batch = {self._key(k): k for k in keys[start:start + 1000]}
            try:
                result = self.s3.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": k} for k in batch], "Quiet": True})
            except Exception:
                failed += batch.values()
                continue
            failed += [batch[e["Key"]] for e in result.get("Errors", ()) if e.get("Key") in batch]
        return failed

    def walk(self, prefix: str = "") -> Iterator[StoredObject]:
        # Only <prefix>data/ is listed: upload markers, parts, tails and staged objects all
        # live under <prefix>uploads/, and a commit's multipart copy into the blob's key is
        # not an object until it completes.
        check_prefix(prefix)
        root = f"{self.prefix}data/"
        for obj in objects(self.s3, self.bucket, root + prefix):
            key = obj["Key"][len(root):]
            if key and not key.endswith("/"):  # folder placeholders some S3 consoles create
                yield StoredObject(key, obj["Size"], obj["LastModified"].timestamp())

    def redirect_url(self, key: str, expires_in: int) -> str | None:
        if not self.redirect:
            return None
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in)

    # -- uploads -------------------------------------------------------------------------
    def upload_start(self, upload_id: str, key_ref: str = "") -> UploadState:
        return self.uploads.start(upload_id)

    def upload_writer(self, upload_id: str, state: UploadState, offset: int) -> UploadWriter:
        return self.uploads.writer(upload_id, state, offset)

    def upload_read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        return self.uploads.read(upload_id, state, size)

    def upload_commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        self.uploads.commit(upload_id, state, size, self._key(key))

    def upload_abort(self, upload_id: str, state: UploadState) -> None:
        self.uploads.abort(upload_id, state)

    def upload_ids_older_than(self, timestamp: float) -> list[str]:
        return self.uploads.older_than(timestamp)

    def check(self) -> None:
        self.s3.head_bucket(Bucket=self.bucket)

    def close(self) -> None:
        self.s3.close()
