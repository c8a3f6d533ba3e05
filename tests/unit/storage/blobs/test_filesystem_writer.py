"""The filesystem driver's upload writer: what reopening an upload costs and keeps."""
import os

from berth.storage.blobs import FilesystemDriver
from berth.storage.blobs import filesystem


def _count_truncates(monkeypatch) -> list:
    calls = []
    real = os.ftruncate

    def counted(fd, length):
        calls.append(length)
        return real(fd, length)

    monkeypatch.setattr(filesystem.os, "ftruncate", counted)
    return calls


def _acknowledged(driver, data: bytes):
    """Upload "u1" holding ``data``, acknowledged: (size, state)."""
    writer = driver.upload_writer("u1", driver.upload_start("u1"), 0)
    writer.write([data])
    return writer.finish()


def test_reopening_at_the_acknowledged_size_does_not_truncate(tmp_path, monkeypatch):
    # On ext4 a truncate waits for the file's writeback in progress, even to its own size:
    # milliseconds per chunk of a chunked upload.
    driver = FilesystemDriver(tmp_path)
    size, state = _acknowledged(driver, b"abc")
    calls = _count_truncates(monkeypatch)
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"def"])
    size, state = writer.finish()
    assert calls == []
    assert b"".join(driver.upload_read("u1", state, size)) == b"abcdef"


def test_reopening_drops_an_interrupted_writes_bytes(tmp_path, monkeypatch):
    driver = FilesystemDriver(tmp_path)
    size, state = _acknowledged(driver, b"abc")
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"never acknowledged"])
    writer.abort()
    calls = _count_truncates(monkeypatch)
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"def"])
    size, state = writer.finish()
    assert calls == [3]
    assert b"".join(driver.upload_read("u1", state, size)) == b"abcdef"
