"""EncryptedDriver: committed blobs. Sizes and ranges at segment boundaries, reads that touch
only the segments they need, and stored bytes that were altered: an error, never wrong bytes."""
import os

import pytest

from berth.storage.blobs import BlobNotFound, FilesystemDriver
from berth.storage.blobs.encrypted import EncryptedDriver
from berth.storage.blobs.segments import (HEADER_SIZE, SEALED_SIZE, SEGMENT_SIZE, BlobCorrupted,
                                          stored_size)

from .fake_keyring import FakeKeyring

S = SEGMENT_SIZE
KMS = "kms-0b5e8f3c-6a4d-4e1f-9c2b-7d8a9e0f1a2b"
KEY = "aes256/sha256/ab/abcdef"
SIZES = [0, 1, S - 1, S, S + 1, 2 * S, 3 * S - 1, 3 * S + 100]


class _RecordingFilesystem(FilesystemDriver):
    """Remembers the inner reads, and answers redirects as a presigning store would."""

    def __init__(self, root):
        super().__init__(root)
        self.reads = []

    def read(self, key, offset=0, length=None, chunk_size=1024 * 1024):
        self.reads.append((offset, length))
        return super().read(key, offset, length, chunk_size)

    def redirect_url(self, key, expires_in):
        return f"https://store.example/{key}"


@pytest.fixture
def keyring():
    return FakeKeyring("aes256", KMS)


@pytest.fixture
def inner(tmp_path):
    drv = _RecordingFilesystem(tmp_path / "blobs")
    yield drv
    drv.close()


@pytest.fixture
def driver(inner, keyring):
    return EncryptedDriver(inner, keyring)


def _upload(driver, upload_id, data, key, key_ref="aes256", part=50_000):
    state = driver.upload_start(upload_id, key_ref)
    size = 0
    for pos in range(0, len(data), part):
        writer = driver.upload_writer(upload_id, state, size)
        writer.write([data[pos:pos + part]])
        size, state = writer.finish()
    driver.upload_commit(upload_id, state, size, key)


def _stored(inner, key):
    return (inner.root / "data" / key).read_bytes()


def _restore(inner, key, raw):
    path = inner.root / "data" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


@pytest.mark.parametrize("size", SIZES)
def test_put_and_upload_round_trip_at_every_boundary(driver, inner, size):
    data = os.urandom(size)
    driver.put(KEY, data)
    _upload(driver, "u1", data, "aes256/sha256/ab/uploaded")
    for key in (KEY, "aes256/sha256/ab/uploaded"):
        assert driver.stat(key) == size
        assert inner.stat(key) == stored_size(size)
        assert b"".join(driver.read(key)) == data


RANGES = [(0, 1), (0, S), (S - 1, 2), (S, 1), (S + 1, S), (S - 1, None), (3 * S + 99, 1),
          (3 * S + 99, None), (3 * S + 100, None), (3 * S + 500, 10), (5, 0), (2 * S, S)]


@pytest.mark.parametrize("offset,length", RANGES)
def test_ranged_reads(driver, offset, length):
    data = os.urandom(3 * S + 100)
    driver.put(KEY, data)
    expected = data[offset:] if length is None else data[offset:offset + length]
    for chunk_size in (1024 * 1024, 999):
        chunks = list(driver.read(KEY, offset, length, chunk_size))
        assert b"".join(chunks) == expected
        assert all(0 < len(c) <= chunk_size for c in chunks)


def test_ranged_read_reads_only_the_segments_it_needs(driver, inner):
    data = os.urandom(5 * S)
    driver.put(KEY, data)
    inner.reads.clear()
    assert b"".join(driver.read(KEY, 2 * S + 10, 100)) == data[2 * S + 10:2 * S + 110]
    assert inner.reads == [(0, HEADER_SIZE), (HEADER_SIZE + 2 * SEALED_SIZE, SEALED_SIZE)]


def test_whole_read_is_one_inner_read(driver, inner):
    driver.put(KEY, os.urandom(2 * S))
    inner.reads.clear()
    list(driver.read(KEY))
    assert inner.reads == [(0, stored_size(2 * S))]


def test_absent_encrypted_blob(driver):
    assert driver.stat(KEY) is None
    with pytest.raises(BlobNotFound):
        driver.read(KEY)


def _read_until_error(driver, key, *args):
    """What a reader receives before the error: it must be a prefix of the true bytes."""
    got = bytearray()
    with pytest.raises(BlobCorrupted):
        for chunk in driver.read(key, *args, chunk_size=S):
            got += chunk
    return bytes(got)


def test_altered_byte_fails_the_segment(driver, inner):
    data = os.urandom(3 * S)
    driver.put(KEY, data)
    raw = bytearray(_stored(inner, KEY))
    raw[HEADER_SIZE + SEALED_SIZE + 500] ^= 1
    _restore(inner, KEY, raw)
    assert _read_until_error(driver, KEY) == data[:S]
    _read_until_error(driver, KEY, S, 10)
    assert b"".join(driver.read(KEY, 2 * S, S)) == data[2 * S:]  # untouched segments


def test_swapped_segments_fail(driver, inner):
    driver.put(KEY, os.urandom(3 * S))
    raw = _stored(inner, KEY)
    one, two = (raw[HEADER_SIZE + i * SEALED_SIZE:HEADER_SIZE + (i + 1) * SEALED_SIZE]
                for i in (0, 1))
    _restore(inner, KEY, raw[:HEADER_SIZE] + two + one + raw[HEADER_SIZE + 2 * SEALED_SIZE:])
    assert _read_until_error(driver, KEY) == b""


@pytest.mark.parametrize("cut", [1, 100 + 28, 100 + 28 + 10, 100 + 28 + SEALED_SIZE])
def test_truncation_fails(driver, inner, cut):
    data = os.urandom(2 * S + 100)
    driver.put(KEY, data)
    raw = _stored(inner, KEY)
    _restore(inner, KEY, raw[:-cut])
    try:
        size = driver.stat(KEY)
    except BlobCorrupted:
        return  # a size no encrypted blob has
    assert size < len(data)
    got = _read_until_error(driver, KEY)
    assert data.startswith(got)


def test_altered_header_fails(driver, inner):
    driver.put(KEY, b"content")
    raw = bytearray(_stored(inner, KEY))
    for pos in (0, HEADER_SIZE - 1):  # magic, padding
        raw[pos] ^= 1
        _restore(inner, KEY, raw)
        with pytest.raises(BlobCorrupted):
            driver.read(KEY)
        raw[pos] ^= 1


def test_object_moved_to_another_key_fails(driver, inner):
    driver.put(KEY, b"content of abcdef")
    _restore(inner, "aes256/sha256/ab/other", _stored(inner, KEY))
    with pytest.raises(BlobCorrupted):
        list(driver.read("aes256/sha256/ab/other"))


def test_object_moved_to_another_key_ref_fails(driver, inner):
    driver.put(KEY, b"content")
    _restore(inner, f"{KMS}/sha256/ab/abcdef", _stored(inner, KEY))
    with pytest.raises(BlobCorrupted):
        driver.read(f"{KMS}/sha256/ab/abcdef")


def test_same_digest_under_two_key_refs_is_two_objects(driver, inner):
    driver.put(KEY, b"shared layer")
    driver.put(f"{KMS}/sha256/ab/abcdef", b"shared layer")
    assert _stored(inner, KEY) != _stored(inner, f"{KMS}/sha256/ab/abcdef")
    driver.delete(KEY)
    assert driver.stat(KEY) is None
    assert b"".join(driver.read(f"{KMS}/sha256/ab/abcdef")) == b"shared layer"


def test_plain_keys_pass_through_byte_identical(driver, inner):
    data = os.urandom(S + 7)
    driver.put("sha256/ab/put", data)
    _upload(driver, "u1", data, "sha256/ab/uploaded", key_ref="")
    for key in ("sha256/ab/put", "sha256/ab/uploaded"):
        assert _stored(inner, key) == data
        assert driver.stat(key) == len(data)
        assert b"".join(driver.read(key, 10, S)) == data[10:10 + S]


def test_redirects_only_for_plain_keys(driver):
    assert driver.redirect_url(KEY, 60) is None
    assert driver.redirect_url("sha256/ab/abcdef", 60) == "https://store.example/sha256/ab/abcdef"


@pytest.mark.parametrize("key", ["aes256/", "aes256//abs", "aes256/a/../b", f"{KMS}/"])
def test_key_ref_without_a_valid_key_is_refused(driver, key):
    for call in (driver.stat, driver.read, driver.delete):
        with pytest.raises(ValueError):
            call(key)
    with pytest.raises(ValueError):
        driver.put(key, b"x")


def test_only_plain_blobs_open_as_files(driver):
    """A sealed blob's file holds ciphertext: no descriptor for sendfile; a plain one's does."""
    driver.put(KEY, b"sealed bytes")
    driver.put("sha256/ab/plain", b"plain bytes")
    assert driver.open_file(KEY) is None
    fd = driver.open_file("sha256/ab/plain")
    try:
        assert os.pread(fd, 100, 0) == b"plain bytes"
    finally:
        os.close(fd)
