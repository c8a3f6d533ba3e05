"""Resumable uploads on S3, continued on any node from the state stored with the upload.

An upload owns the folder ``<prefix>uploads/<upload id>/``:

- ``started``: an empty marker; the upload exists (the expiry sweep finds it by its folder).
- ``mpu-<token>``: a multipart upload of the upload's full parts (``part_size`` each), and
  once completed (to read the bytes back, or to commit) the staged object holding them.
- ``tail-<size>-<token>``: the bytes after the parts, fewer than a part (S3 refuses parts
  under 5 MiB but the last). Each writer that adds to them writes a new object under a new
  name, so an interrupted writer never clobbers the acknowledged tail.
- ``final-mpu``: while a commit above CopyObject's 5 GiB limit copies in parts into the
  blob's key, that multipart upload, so that an abort can end it.

The driver state names the multipart upload, its acknowledged parts (ETags) and the tail;
parts past them come from interrupted writers and are overwritten (part numbers are reused)
or left out at completion. S3 cannot read an unfinished multipart upload, so reading one
completes it; a later writer then starts a new multipart upload whose first parts are
server-side copies of the staged object.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import replace
from typing import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from .base import READ_CHUNK, BlobNotFound, UploadState, UploadTooLarge
from .s3_client import (MAX_COPY, MAX_PARTS, NOT_FOUND, UPLOAD_GONE, abort_multipart, complete,
                        copy_parts, error_code, head_size, stream)
from .s3_housekeeping import FINAL, MARKER, abort_upload, uploads_older_than
from .s3_progress import Progress, checked
from .s3_writer import S3UploadWriter

log = logging.getLogger(__name__)


def _token() -> str:
    return secrets.token_hex(8)


class S3Uploads:
    def __init__(self, s3, bucket: str, root: str, part_size: int):
        self.s3 = s3
        self.bucket = bucket
        self.root = root  # "<prefix>uploads/"
        self.part_size = part_size
        self.max_copy = MAX_COPY  # a test may lower it to exercise multipart copies

    def folder(self, upload_id: str) -> str:
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError(f"invalid upload id {upload_id!r}")
        return f"{self.root}{upload_id}/"

    # -- writing -----------------------------------------------------------------------------
    def start(self, upload_id: str) -> UploadState:
        self.s3.put_object(Bucket=self.bucket, Key=self.folder(upload_id) + MARKER, Body=b"")
        return {}

    def writer(self, upload_id: str, state: UploadState, offset: int) -> S3UploadWriter:
        progress = checked(state, offset)
        return S3UploadWriter(self, upload_id, progress, self._load_tail(upload_id, progress))

    def _load_tail(self, upload_id: str, p: Progress) -> bytes:
        if not p.tail:
            self._require(upload_id)
            return b""
        try:
            return self.s3.get_object(Bucket=self.bucket,
                                      Key=self.folder(upload_id) + p.tail)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise BlobNotFound(upload_id) from None
            raise

    def _require(self, upload_id: str) -> None:
        if head_size(self.s3, self.bucket, self.folder(upload_id) + MARKER) is None:
            raise BlobNotFound(upload_id)

    def add_part(self, upload_id: str, p: Progress, data: bytearray) -> Progress:
        if not p.mpu_id:
            p = self._new_mpu(upload_id, p)
        try:
            return self._upload_part(upload_id, p, data)
        except ClientError as exc:
            if error_code(exc) not in UPLOAD_GONE:
                raise
        # A read completed the multipart upload to verify the bytes: go on in a new one.
        return self._upload_part(upload_id, self._rebase(upload_id, p), data)

    def part_size_for(self, number: int) -> int:
        """Parts grow by the configured size every 1,000 parts: S3's 10,000-part limit then
        comes only past 55,000 configured parts (430 GiB at 8 MiB) while a writer still
        buffers at most one part. Sizes follow from the part number, so any node agrees."""
        return min(self.part_size * (1 + (number - 1) // 1000), MAX_COPY)

    def _upload_part(self, upload_id: str, p: Progress, data: bytearray) -> Progress:
        number = len(p.parts) + 1
        if number > MAX_PARTS:
            raise UploadTooLarge(f"upload {upload_id} exceeds S3's {MAX_PARTS} parts")
        etag = self.s3.upload_part(Bucket=self.bucket, Key=self.folder(upload_id) + p.mpu,
                                   UploadId=p.mpu_id, PartNumber=number, Body=data)["ETag"]
        return replace(p, parts=(*p.parts, (etag, len(data))))

    def save_tail(self, upload_id: str, p: Progress, data: bytes) -> Progress:
        if not data:
            return replace(p, tail="", tail_size=0)
        name = f"tail-{p.parts_size + len(data)}-{_token()}"
        self.s3.put_object(Bucket=self.bucket, Key=self.folder(upload_id) + name, Body=data)
        return replace(p, tail=name, tail_size=len(data))

    def _new_mpu(self, upload_id: str, like: Progress) -> Progress:
        name = f"mpu-{_token()}"
        mpu_id = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=self.folder(upload_id) + name)["UploadId"]
        return replace(like, mpu=name, mpu_id=mpu_id, parts=())

    def _rebase(self, upload_id: str, p: Progress) -> Progress:
        """The same bytes in a new multipart upload, its first parts copied from the object
        the old one was completed into (whose first ``parts_size`` bytes are the parts)."""
        folder = self.folder(upload_id)
        staged = head_size(self.s3, self.bucket, folder + p.mpu)
        if staged is None or not p.parts_size <= staged <= p.size:
            raise BlobNotFound(upload_id)  # aborted, or staged from a state not this one's
        fresh = self._new_mpu(upload_id, p)
        parts = copy_parts(self.s3, self.bucket, folder + fresh.mpu, fresh.mpu_id,
                           folder + p.mpu, 0, p.parts_size, 1, self.max_copy)
        return replace(fresh, parts=tuple(parts))

    # -- reading and committing --------------------------------------------------------------
    def _stage(self, upload_id: str, p: Progress) -> str | None:
        """The key of one object holding exactly the acknowledged bytes; None if none."""
        folder = self.folder(upload_id)
        if not p.mpu_id:
            return folder + p.tail if p.tail else None
        key = folder + p.mpu
        staged = head_size(self.s3, self.bucket, key)
        if staged is None:
            try:
                self._complete_with_tail(folder, p)
                return key
            except ClientError as exc:
                code = error_code(exc)
                if code == "InvalidPart":
                    log.warning("upload %s: an acknowledged part was overwritten", upload_id)
                    raise BlobNotFound(upload_id) from None
                # radosgw answers InternalError when another node completed it just before.
                staged = head_size(self.s3, self.bucket, key)
                if staged is None:
                    if code in UPLOAD_GONE:
                        raise BlobNotFound(upload_id) from None
                    raise
        if staged == p.size:
            return key
        # Completed before, from a state with a shorter tail: restage with this one's.
        return self._stage(upload_id, self._rebase(upload_id, p))

    def _complete_with_tail(self, folder: str, p: Progress) -> None:
        key, parts = folder + p.mpu, list(p.parts)
        if p.tail:  # the last part may be short
            parts += copy_parts(self.s3, self.bucket, key, p.mpu_id, folder + p.tail,
                                0, p.tail_size, len(parts) + 1, self.max_copy)
        complete(self.s3, self.bucket, key, p.mpu_id, parts)

    def read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        source = self._stage(upload_id, checked(state, size))
        if source is None:
            self._require(upload_id)
            return iter(())
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=source,
                                      Range=f"bytes=0-{size - 1}")["Body"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise BlobNotFound(upload_id) from None
            raise
        return stream(body, READ_CHUNK)

    def commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        source = self._stage(upload_id, checked(state, size))
        if source is None:
            self._require(upload_id)
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"")
        else:
            self._copy(upload_id, source, size, key)
        try:
            self.abort(upload_id, {})
        except (ClientError, BotoCoreError) as exc:
            # The blob is in place; what is left is found and removed by the expiry sweep.
            log.warning("upload %s: clean-up after commit failed: %s", upload_id, exc)

    def _copy(self, upload_id: str, source: str, size: int, dest: str) -> None:
        """Server-side copy, visible complete or not at all."""
        try:
            if size <= self.max_copy:
                self.s3.copy_object(Bucket=self.bucket, Key=dest,
                                    CopySource={"Bucket": self.bucket, "Key": source})
            else:
                self._copy_in_parts(upload_id, source, size, dest)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise BlobNotFound(upload_id) from None
            raise

    def _copy_in_parts(self, upload_id: str, source: str, size: int, dest: str) -> None:
        mpu_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=dest)["UploadId"]
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.folder(upload_id) + FINAL,
                               Body=json.dumps({"key": dest, "id": mpu_id}).encode())
            parts = copy_parts(self.s3, self.bucket, dest, mpu_id, source, 0, size, 1,
                               self.max_copy)
            complete(self.s3, self.bucket, dest, mpu_id, parts)
        except BaseException:
            abort_multipart(self.s3, self.bucket, dest, mpu_id)
            raise

    # -- housekeeping ------------------------------------------------------------------------
    def abort(self, upload_id: str, state: UploadState) -> None:
        abort_upload(self.s3, self.bucket, self.folder(upload_id), Progress.load(state))

    def older_than(self, timestamp: float) -> list[str]:
        return uploads_older_than(self.s3, self.bucket, self.root, timestamp)
