"""The metered driver: every storage call timed by driver and operation, failures counted,
a missing blob not counted as one; reads timed to their first bytes and still lazy."""
from __future__ import annotations

import errno
import uuid

import pytest
from prometheus_client import REGISTRY

from berth.storage.blobs import BlobNotFound, FilesystemDriver
from berth.storage.blobs.metered import MeteredDriver

KEY = "sha256/ab/abcdef"


@pytest.fixture
def metered(tmp_path):
    inner = FilesystemDriver(tmp_path / "blobs")
    inner.name = f"fs-{uuid.uuid4().hex[:8]}"  # this test's own series
    return MeteredDriver(inner)


def _calls(driver, operation: str) -> float:
    labels = {"driver": driver.name, "operation": operation}
    return REGISTRY.get_sample_value("berth_storage_operation_duration_seconds_count",
                                     labels) or 0.0


def _errors(driver, operation: str) -> float:
    labels = {"driver": driver.name, "operation": operation}
    return REGISTRY.get_sample_value("berth_storage_errors_total", labels) or 0.0


def test_each_call_is_timed_under_its_driver_and_operation(metered):
    metered.put(KEY, b"data" * 100)
    assert metered.stat(KEY) == 400
    assert b"".join(metered.read(KEY, chunk_size=16)) == b"data" * 100
    state = metered.upload_start("u1")
    writer = metered.upload_writer("u1", state, 0)
    writer.write([b"abc"])
    size, state = writer.finish()
    metered.upload_commit("u1", state, size, "sha256/cd/cdef")
    counts = {op: _calls(metered, op) for op in ("put", "stat", "read", "upload_start",
                                                 "upload_writer", "upload_write",
                                                 "upload_finish", "upload_commit")}
    assert counts == dict.fromkeys(counts, 1.0)  # a read of 25 chunks is one call
    assert sum(_errors(metered, op) for op in counts) == 0


def test_a_missing_blob_is_an_answer_a_storage_failure_is_counted(metered, monkeypatch):
    with pytest.raises(BlobNotFound):
        list(metered.read(KEY))
    assert _calls(metered, "read") == 1 and _errors(metered, "read") == 0

    def broken(key, data):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(metered.inner, "put", broken)
    with pytest.raises(OSError):
        metered.put(KEY, b"x")
    assert _calls(metered, "put") == 1 and _errors(metered, "put") == 1


def test_a_read_stays_lazy(metered):
    chunks = metered.read(KEY)  # nothing asked for yet: nothing raised, nothing timed
    assert _calls(metered, "read") == 0
    with pytest.raises(BlobNotFound):
        next(chunks)
    assert _calls(metered, "read") == 1
