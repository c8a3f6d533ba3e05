"""The contract every blob driver must meet (run against each driver in conftest.DRIVERS)."""
import json
import os
import time

import pytest

from berth.storage.blobs import BlobNotFound

KEY = "sha256/ab/abcdef"


def _upload(driver, upload_id, parts, key=KEY):
    state = driver.upload_start(upload_id)
    size = 0
    for part in parts:
        writer = driver.upload_writer(upload_id, state, size)
        writer.write([part])
        size, state = writer.finish()
    driver.upload_commit(upload_id, state, size, key)
    return size


def test_absent_blob(driver):
    assert driver.stat(KEY) is None
    with pytest.raises(BlobNotFound):
        list(driver.read(KEY))
    driver.delete(KEY)  # not an error


def test_upload_in_parts_then_read(driver):
    size = _upload(driver, "u1", [b"hello ", b"world"])
    assert size == 11
    assert driver.stat(KEY) == 11
    assert b"".join(driver.read(KEY)) == b"hello world"


def test_open_file_holds_exactly_the_blob_or_is_not_offered(driver):
    """Drivers with local files give a descriptor on the blob's bytes (for sendfile); others
    None. A missing blob is never a descriptor."""
    _upload(driver, "u1", [b"hello ", b"world"])
    fd = driver.open_file(KEY)
    if fd is not None:
        try:
            assert os.fstat(fd).st_size == 11 and os.pread(fd, 100, 0) == b"hello world"
        finally:
            os.close(fd)
    try:
        assert driver.open_file("sha256/ab/missing") is None
    except BlobNotFound:
        pass


def test_read_range_and_small_chunks(driver):
    _upload(driver, "u1", [bytes(range(256)) * 40])
    data = bytes(range(256)) * 40
    assert b"".join(driver.read(KEY, 100, 1000)) == data[100:1100]
    chunks = list(driver.read(KEY, 0, None, chunk_size=999))
    assert b"".join(chunks) == data and max(map(len, chunks)) <= 999


def test_writer_batches_many_buffers(driver):
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    writer.write([b"x"] * 5000)  # more buffers than one writev takes
    size, state = writer.finish()
    assert size == 5000
    assert b"".join(driver.upload_read("u1", state, size)) == b"x" * 5000


def test_unacknowledged_bytes_are_dropped_on_resume(driver):
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    writer.write([b"abc"])
    size, state = writer.finish()
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"garbage"])
    writer.abort()  # this chunk was never acknowledged
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"def"])
    size, state = writer.finish()
    assert b"".join(driver.upload_read("u1", state, size)) == b"abcdef"
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == b"abcdef"


def test_commit_truncates_to_acknowledged_size(driver):
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    writer.write([b"abc"])
    size, state = writer.finish()
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"def"])  # interrupted: never acknowledged, its state never stored
    writer.abort()
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == b"abc"


def test_blob_invisible_until_commit(driver):
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    writer.write([b"data"])
    writer.finish()
    assert driver.stat(KEY) is None


def test_abort_and_unknown_upload(driver):
    state = driver.upload_start("u1")
    driver.upload_abort("u1", state)
    driver.upload_abort("u1", state)  # idempotent
    with pytest.raises(BlobNotFound):
        driver.upload_writer("u1", state, 0)
    with pytest.raises(BlobNotFound):
        list(driver.upload_read("u1", state, 0))


def test_commit_of_an_upload_that_is_gone(driver):
    state = driver.upload_start("u1")
    writer = driver.upload_writer("u1", state, 0)
    writer.write([b"gone"])
    size, state = writer.finish()
    driver.upload_commit("u1", state, size, KEY)
    driver.delete(KEY)  # as a collector would, before a second commit of the same upload
    with pytest.raises(BlobNotFound):
        driver.upload_commit("u1", state, size, KEY)
    assert driver.stat(KEY) is None


def test_commit_over_existing_key_keeps_one_copy(driver):
    _upload(driver, "u1", [b"same"])
    _upload(driver, "u2", [b"same"])
    assert b"".join(driver.read(KEY)) == b"same"
    driver.delete(KEY)
    assert driver.stat(KEY) is None


def test_stale_uploads_listed(driver):
    driver.upload_start("old")
    cutoff = time.time() + 1
    assert "old" in driver.upload_ids_older_than(cutoff)
    assert "old" not in driver.upload_ids_older_than(time.time() - 3600)


def test_invalid_keys_refused(driver):
    for key in ("", "/abs", "a/../b"):
        with pytest.raises(ValueError):
            driver.stat(key)


def test_check_passes(driver):
    driver.check()


def test_put_stores_a_small_blob_whole(driver):
    driver.put(KEY, b"small and whole")
    assert driver.stat(KEY) == 15
    assert b"".join(driver.read(KEY)) == b"small and whole"
    driver.put(KEY, b"small and whole")  # idempotent for the same content
    assert driver.upload_ids_older_than(time.time() + 1) == []  # no temporary left behind


# -- what object storage makes worth pinning for every driver ---------------------------------
MIB = 1024 * 1024
BIG = bytes(range(251)) * (12 * MIB // 251) + b"odd tail"  # several S3 parts and a short tail


def _stored(state):
    """The state as the metadata keeps it (JSON), so nothing unserialisable can hide in it."""
    return json.loads(json.dumps(state))


def _write(driver, upload_id, state, size, data, pieces=1):
    step = -(-len(data) // pieces)
    writer = driver.upload_writer(upload_id, _stored(state), size)
    writer.write([data[i:i + step] for i in range(0, len(data), step)])
    return writer.finish()


def test_resume_on_another_node_from_the_stored_state(driver, other_node):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, BIG[:7 * MIB], pieces=7)
    size, state = _write(other_node, "u1", state, size, BIG[7 * MIB:], pieces=3)
    assert size == len(BIG)
    assert b"".join(other_node.upload_read("u1", _stored(state), size)) == BIG
    driver.upload_commit("u1", _stored(state), size, KEY)
    assert other_node.stat(KEY) == len(BIG)
    assert b"".join(other_node.read(KEY, 5 * MIB - 3, 6)) == BIG[5 * MIB - 3:5 * MIB + 3]


def test_large_upload_with_an_interrupted_writer_past_a_part(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, BIG[:3 * MIB])
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"\xff" * (8 * MIB)])  # crosses part boundaries, never acknowledged
    writer.abort()
    size, state = _write(driver, "u1", state, size, BIG[3 * MIB:], pieces=9)
    driver.upload_commit("u1", state, size, KEY)
    chunks = list(driver.read(KEY, chunk_size=MIB))
    assert max(map(len, chunks)) <= MIB and b"".join(chunks) == BIG


def test_writing_on_after_a_read(driver):
    """Completion on another node re-reads the upload, and may then append a last chunk; a
    failed completion leaves the upload to be continued."""
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, BIG[:6 * MIB + 5])
    assert b"".join(driver.upload_read("u1", state, size)) == BIG[:6 * MIB + 5]
    size2, state2 = _write(driver, "u1", state, size, BIG[6 * MIB + 5:7 * MIB])  # not a part
    assert b"".join(driver.upload_read("u1", state2, size2)) == BIG[:7 * MIB]
    size3, state3 = _write(driver, "u1", state2, size2, BIG[7 * MIB:])  # parts again
    assert b"".join(driver.upload_read("u1", state3, size3)) == BIG
    driver.upload_commit("u1", state3, size3, KEY)
    assert b"".join(driver.read(KEY)) == BIG


def test_commit_after_a_read_of_a_small_upload(driver):
    state = driver.upload_start("u1")
    size, state = _write(driver, "u1", state, 0, b"small")
    assert b"".join(driver.upload_read("u1", state, size)) == b"small"
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == b"small"


def test_empty_upload(driver):
    state = driver.upload_start("u1")
    assert list(driver.upload_read("u1", state, 0)) == []
    driver.upload_commit("u1", state, 0, KEY)
    assert driver.stat(KEY) == 0 and b"".join(driver.read(KEY)) == b""


def test_abort_of_an_untracked_upload_removes_it(driver):
    """The expiry sweep aborts uploads the metadata lost track of with an empty state."""
    state = driver.upload_start("lost")
    _write(driver, "lost", state, 0, BIG[:6 * MIB])
    assert "lost" in driver.upload_ids_older_than(time.time() + 1)
    driver.upload_abort("lost", {})
    assert driver.upload_ids_older_than(time.time() + 1) == []
    with pytest.raises(BlobNotFound):
        driver.upload_writer("lost", {}, 0)


# -- listing committed blobs (walk), for garbage collection ----------------------------------
def _walk(driver, prefix=""):
    return {found.key: found for found in driver.walk(prefix)}


def _started(driver, upload_id, data, read=False):
    """An upload written and acknowledged but never committed (read: staged, as a completion
    on another node leaves it)."""
    state = driver.upload_start(upload_id)
    size, state = _write(driver, upload_id, state, 0, data)
    if read:
        assert b"".join(driver.upload_read(upload_id, state, size)) == data
    return state


def test_walk_of_an_empty_store_yields_nothing(driver):
    assert list(driver.walk()) == []
    assert list(driver.walk("sha256/ab/")) == []


def test_walk_lists_exactly_the_committed_blobs(driver):
    it = driver.walk()
    assert iter(it) is it  # lazy: an iterator, not a list
    driver.put("sha256/ab/put", b"put whole")
    _upload(driver, "u1", [b"hello ", b"world"], key="sha256/cd/committed")
    _upload(driver, "u2", [BIG[:6 * MIB]], key="sha256/ef/large")
    found = _walk(driver)
    assert set(found) == {"sha256/ab/put", "sha256/cd/committed", "sha256/ef/large"}
    encrypted = driver.name.startswith("encrypted")
    for key, obj in found.items():
        assert abs(obj.modified - time.time()) < 120
        if encrypted:  # walk gives the stored (sealed) size, stat the plaintext size
            assert obj.size >= driver.stat(key)
        else:
            assert obj.size == driver.stat(key)


def test_walk_skips_uploads_in_progress_and_aborted(driver):
    driver.put(KEY, b"committed")
    _started(driver, "written", b"not committed")
    _started(driver, "staged", BIG[:6 * MIB + 5], read=True)  # S3: parts completed
    aborted = _started(driver, "aborted", b"aborted")
    driver.upload_abort("aborted", aborted)
    driver.upload_start("empty")
    assert set(_walk(driver)) == {KEY}


def test_walk_filters_by_prefix(driver):
    keys = ["aes256/sha256/ab/abc", "sha256/ab/abd", "sha256/ab/xyz", "sha256/abc/1",
            "sha256/cd/x"]
    for key in keys:
        driver.put(key, key.encode())
    assert set(_walk(driver)) == set(keys)
    assert set(_walk(driver, "aes256/")) == {"aes256/sha256/ab/abc"}
    assert set(_walk(driver, "sha256/ab/")) == {"sha256/ab/abd", "sha256/ab/xyz"}
    assert set(_walk(driver, "sha256/ab")) == {"sha256/ab/abd", "sha256/ab/xyz", "sha256/abc/1"}
    assert set(_walk(driver, "sha256/ab/ab")) == {"sha256/ab/abd"}
    assert set(_walk(driver, "sha256/ab/abd")) == {"sha256/ab/abd"}
    assert set(_walk(driver, "sha256/zz/")) == set()
    assert set(_walk(driver, "sha256/ab/abd/")) == set()  # a blob is not a folder


def test_walk_lists_key_ref_keys_as_given(driver):
    key = "aes256/sha256/ab/abc"
    _upload(driver, "u1", [b"sealed or not"], key=key)
    assert set(_walk(driver)) == {key}
    assert set(_walk(driver, "aes256/sha256/ab/")) == {key}


def test_walk_forgets_deleted_blobs(driver):
    driver.put(KEY, b"gone soon")
    driver.put("sha256/ab/kept", b"kept")
    driver.delete(KEY)
    assert set(_walk(driver)) == {"sha256/ab/kept"}
    driver.delete("sha256/ab/kept")
    assert list(driver.walk()) == []


def test_walk_refuses_prefixes_outside_the_keys(driver):
    for prefix in ("../", "a/../b"):
        with pytest.raises(ValueError):
            list(driver.walk(prefix))


def test_delete_many_removes_the_keys_and_ignores_absent_ones(driver):
    keys = [f"sha256/d{i}/d{i}{'0' * 8}" for i in range(3)]
    for key in keys:
        driver.put(key, b"gone soon")
    driver.put("sha256/ke/keep", b"kept")
    assert driver.delete_many([*keys, "sha256/ab/absent"]) == []
    assert [driver.stat(key) for key in keys] == [None, None, None]
    assert driver.stat("sha256/ke/keep") == 4
    assert driver.delete_many([]) == []
