"""Appending to an S3 upload (see s3_uploads.py for the objects an upload owns)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import UploadState, UploadWriter
from .s3_progress import Progress

if TYPE_CHECKING:
    from .s3_uploads import S3Uploads


class S3UploadWriter(UploadWriter):
    """Buffers at most one part: full parts go to S3 as they fill, the rest to a tail."""

    def __init__(self, uploads: S3Uploads, upload_id: str, progress: Progress, tail: bytes):
        self._uploads = uploads
        self._id = upload_id
        self._progress = progress
        self._buffer = bytearray(tail)  # the bytes after the parts
        self._wrote = False

    def write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            if not chunk:
                continue
            self._wrote = True
            self._buffer += chunk
            while len(self._buffer) >= (
                    part_size := self._uploads.part_size_for(len(self._progress.parts) + 1)):
                part = self._buffer[:part_size]
                del self._buffer[:part_size]
                self._progress = self._uploads.add_part(self._id, self._progress, part)

    def finish(self) -> tuple[int, UploadState]:
        if self._wrote:
            self._progress = self._uploads.save_tail(self._id, self._progress,
                                                     bytes(self._buffer))
            self._wrote = False
        return self._progress.size, self._progress.dump()

    def abort(self) -> None:
        self._buffer = bytearray()
