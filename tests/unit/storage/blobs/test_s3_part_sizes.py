"""S3 part sizes grow with the part number, so S3's 10,000-part limit is far off while a writer
buffers at most one part; past it, the upload is refused as too large (never a crash)."""
import pytest

from berth.storage.blobs import UploadTooLarge
from berth.storage.blobs.s3_client import MAX_COPY, MAX_PARTS
from berth.storage.blobs.s3_progress import Progress
from berth.storage.blobs.s3_uploads import S3Uploads

MIB = 1024 * 1024


def test_parts_grow_every_thousand_and_stay_under_the_copy_limit():
    uploads = S3Uploads(None, "bucket", "uploads/", 8 * MIB)
    assert [uploads.part_size_for(n) for n in (1, 1000, 1001, 2000, 2001, 10_000)] == [
        8 * MIB, 8 * MIB, 16 * MIB, 16 * MIB, 24 * MIB, 80 * MIB]
    total = sum(uploads.part_size_for(n) for n in range(1, MAX_PARTS + 1))
    assert total == 55_000 * 8 * MIB
    huge = S3Uploads(None, "bucket", "uploads/", 4 * 1024 * MIB)
    assert huge.part_size_for(MAX_PARTS) == MAX_COPY


def test_a_part_past_the_limit_is_refused_before_any_request():
    uploads = S3Uploads(None, "bucket", "uploads/", 8 * MIB)  # no client: nothing may be sent
    full = Progress(mpu="mpu-x", mpu_id="id", parts=tuple(("etag", 1) for _ in range(MAX_PARTS)))
    with pytest.raises(UploadTooLarge):
        uploads._upload_part("u1", full, bytearray(b"x"))
