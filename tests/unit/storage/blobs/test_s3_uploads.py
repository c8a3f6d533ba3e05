"""The S3 driver's uploads on Ceph's RADOS gateway, beyond the contract: what they leave in the
bucket, concurrent and interrupted writers, multipart copies, and memory."""
import json
import os
import time
import tracemalloc
import uuid

import pytest

from berth.storage.blobs import BlobNotFound

MIB = 1024 * 1024
PART = 5 * MIB
KEY = "sha256/ab/abcdef"


@pytest.fixture
def driver(ceph):
    """An S3 driver on its own prefix (in place of the contract's parametrized one)."""
    drv = ceph.driver(ceph.shared_bucket, f"s3-uploads-{uuid.uuid4().hex[:12]}/")
    yield drv
    drv.close()


def _in_bucket(driver, folder="uploads/"):
    """(object keys, multipart upload keys) under the driver's prefix + folder."""
    prefix = driver.prefix + folder
    objects = driver.s3.list_objects_v2(Bucket=driver.bucket, Prefix=prefix).get("Contents", [])
    mpus = driver.s3.list_multipart_uploads(Bucket=driver.bucket, Prefix=prefix).get("Uploads", [])
    return ([o["Key"][len(prefix):] for o in objects], [u["Key"][len(prefix):] for u in mpus])


def _write(driver, upload_id, state, size, data):
    writer = driver.upload_writer(upload_id, json.loads(json.dumps(state)), size)
    writer.write([data[i:i + MIB] for i in range(0, len(data), MIB)])
    return writer.finish()


def test_small_uploads_are_tails_big_ones_multipart(driver):
    state = driver.upload_start("u1")
    assert state == {}
    size, state = _write(driver, "u1", state, 0, b"x" * 100)
    assert set(state) == {"tail", "tail_size"} and state["tail_size"] == 100
    size, state = _write(driver, "u1", state, size, b"y" * (2 * PART))
    assert [p[1] for p in state["parts"]] == [PART, PART] and state["tail_size"] == 100
    objects, mpus = _in_bucket(driver)
    assert mpus == [f"u1/{state['mpu']}"]
    assert f"u1/{state['tail']}" in objects and "u1/started" in objects


def test_commit_leaves_nothing_behind(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, os.urandom(PART + 3))
    assert b"".join(driver.upload_read("u1", state, size))  # staged
    driver.upload_commit("u1", state, size, KEY)
    assert _in_bucket(driver) == ([], [])
    assert driver.stat(KEY) == PART + 3


def test_an_interrupted_writer_never_clobbers_the_acknowledged_tail(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, b"acknowledged")
    # A writer that got as far as saving its tail, whose state the metadata never took.
    _write(driver, "u1", state, size, b" and lost")
    assert b"".join(driver.upload_read("u1", state, size)) == b"acknowledged"
    size, state = _write(driver, "u1", state, size, b" and kept")
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == b"acknowledged and kept"


def test_a_losing_concurrent_writer_cannot_corrupt_the_winner(driver):
    """Two writers from one state both fill the next part; the metadata keeps one state
    (compare and set). If the loser's part landed last, the kept state no longer matches S3:
    reading it fails instead of returning the loser's bytes."""
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, b"0" * (PART + 1))
    _, kept = _write(driver, "u1", state, size, b"A" * PART)
    _write(driver, "u1", state, size, b"B" * PART)  # lost the compare-and-set, wrote last
    with pytest.raises(BlobNotFound):
        b"".join(driver.upload_read("u1", kept, size + PART))
    with pytest.raises(BlobNotFound):
        driver.upload_commit("u1", kept, size + PART, KEY)
    assert driver.stat(KEY) is None


def test_abort_with_an_empty_state_removes_every_trace(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, os.urandom(2 * PART + 7))
    assert b"".join(driver.upload_read("u1", state, size))  # a staged object
    _write(driver, "u1", state, size, os.urandom(PART))  # an unacknowledged multipart upload
    objects, mpus = _in_bucket(driver)
    assert len(mpus) == 1 and len(objects) == 4  # marker, staged, two tails
    driver.upload_abort("u1", {})
    assert _in_bucket(driver) == ([], [])
    driver.upload_abort("u1", {})  # idempotent


def test_abort_ends_an_interrupted_multipart_copy_into_a_blob(driver):
    """A commit above 5 GiB copies in parts into the blob's key; should it die midway, the
    record it left lets the abort end that multipart upload."""
    uploads = driver.uploads
    state = driver.upload_start("u1")
    final = driver.prefix + "data/" + KEY
    mpu_id = driver.s3.create_multipart_upload(Bucket=driver.bucket, Key=final)["UploadId"]
    driver.s3.put_object(Bucket=driver.bucket, Key=uploads.folder("u1") + "final-mpu",
                         Body=json.dumps({"key": final, "id": mpu_id}).encode())
    driver.upload_abort("u1", state)
    assert _in_bucket(driver, "") == ([], [])


def test_commit_above_the_copy_limit_copies_in_parts(driver):
    driver.uploads.max_copy = 12 * MIB  # 5 GiB in production; a blob of 4 parts crosses it
    data = os.urandom(4 * PART + 11)
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, data[:2 * PART + 5])
    assert b"".join(driver.upload_read("u1", state, size)) == data[:2 * PART + 5]
    size, state = _write(driver, "u1", state, size, data[2 * PART + 5:])  # copies 10 MiB on
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == data
    assert _in_bucket(driver, "") == ([f"data/{KEY}"], [])


def test_reading_a_staged_upload_twice_and_committing_on_another_node(driver, ceph):
    other = ceph.driver(driver.bucket, driver.prefix)
    data = os.urandom(PART + 99)
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, data)
    assert b"".join(driver.upload_read("u1", state, size)) == data
    assert b"".join(other.upload_read("u1", state, size)) == data
    other.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == data
    other.close()


def test_mismatched_sizes_are_refused(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, b"abc")
    with pytest.raises(ValueError):
        driver.upload_writer("u1", state, size + 1)
    with pytest.raises(ValueError):
        driver.upload_commit("u1", state, size - 1, KEY)


def test_stale_listing_covers_orphaned_multipart_uploads(driver):
    folder = driver.uploads.folder("orphan")
    driver.s3.create_multipart_upload(Bucket=driver.bucket, Key=folder + "mpu-x")
    assert driver.upload_ids_older_than(time.time() + 1) == ["orphan"]
    assert driver.upload_ids_older_than(time.time() - 3600) == []
    driver.upload_abort("orphan", {})
    assert _in_bucket(driver) == ([], [])


def test_a_writer_holds_at_most_about_one_part(driver):
    driver.uploads.part_size = PART
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    chunk = os.urandom(MIB)
    tracemalloc.start()
    try:
        for _ in range(24):
            writer.write([chunk])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size, state = writer.finish()
    assert size == 24 * MIB
    assert peak < 3 * PART, f"writing 24 MiB peaked at {peak / MIB:.1f} MiB"


def test_reads_stream(driver):
    driver.put(KEY, os.urandom(24 * MIB))
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in driver.read(KEY, chunk_size=256 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 24 * MIB
    assert peak < 4 * MIB, f"reading 24 MiB peaked at {peak / MIB:.1f} MiB"
