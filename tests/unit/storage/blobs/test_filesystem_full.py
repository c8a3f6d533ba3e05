"""The filesystem driver on a full disk: every write that finds no room raises StorageFull,
and what it was writing (the upload file, put's temporary file) is gone at once; other
errors stay what they are. On a real tmpfs where the kernel can say ENOSPC (writes, file
creation), with the failures tmpfs never produces (fsync, rename) injected."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from berth.storage.blobs import BlobNotFound, FilesystemDriver, StorageFull
from berth.storage.blobs.encrypted import EncryptedDriver
from berth.storage.errors import BLOB_STORAGE
from tests.support.tmpfs import fill, tmpfs

from .fake_keyring import FakeKeyring

MIB = 1024 * 1024


@pytest.fixture
def disk(tmp_path) -> Path:
    with tmpfs(tmp_path / "disk", "2m") as mounted:
        yield mounted


@pytest.fixture
def driver(disk):
    drv = FilesystemDriver(disk / "blobs")
    yield drv
    drv.close()


def uploads(driver: FilesystemDriver) -> list[str]:
    return sorted(os.listdir(driver.root / "uploads"))


def test_an_upload_outgrowing_the_disk_is_removed_at_once(driver):
    driver.upload_start("u1", "")
    writer = driver.upload_writer("u1", {}, 0)
    writer.write([b"a" * MIB])
    with pytest.raises(StorageFull) as caught:
        writer.write([b"b" * MIB, b"c" * MIB])
    writer.abort()  # what the upload path does after a failed write
    assert caught.value.storage == BLOB_STORAGE
    assert caught.value.reason == os.strerror(errno.ENOSPC)
    assert uploads(driver) == []  # not left for the 24 h expiry
    with pytest.raises(BlobNotFound):  # the upload is over: the client starts again
        driver.upload_writer("u1", {}, 0)
    driver.upload_abort("u1", {})  # and aborting it is no error


def test_other_uploads_keep_their_bytes(driver):
    driver.upload_start("small", "")
    writer = driver.upload_writer("small", {}, 0)
    writer.write([b"s" * 1000])
    size, state = writer.finish()
    driver.upload_start("big", "")
    big = driver.upload_writer("big", {}, 0)
    with pytest.raises(StorageFull):
        big.write([b"b" * 3 * MIB])
    big.abort()
    assert uploads(driver) == ["small"]
    driver.upload_commit("small", state, size, "sha256/aa/small")
    assert b"".join(driver.read("sha256/aa/small")) == b"s" * 1000


def test_a_put_that_does_not_fit_leaves_nothing(driver):
    with pytest.raises(StorageFull):
        driver.put("sha256/bb/big", b"x" * 3 * MIB)
    assert uploads(driver) == []
    assert driver.stat("sha256/bb/big") is None


def test_an_encrypted_upload_outgrowing_the_disk_is_removed_at_once(driver):
    sealed = EncryptedDriver(driver, FakeKeyring("aes256"))
    state = sealed.upload_start("enc", "aes256")
    writer = sealed.upload_writer("enc", state, 0)
    with pytest.raises(StorageFull):
        writer.write([os.urandom(3 * MIB)])
    writer.abort()
    assert uploads(driver) == []


def test_space_freed_means_writes_work_again(driver, disk):
    filler = fill(disk)
    with pytest.raises(StorageFull):
        driver.put("sha256/cc/one", b"1" * 8192)
    driver.upload_start("u2", "")  # an empty file takes no room
    with pytest.raises(StorageFull):
        driver.upload_writer("u2", {}, 0).write([b"2" * 8192])
    filler.unlink()
    driver.put("sha256/cc/one", b"1" * 8192)
    assert driver.stat("sha256/cc/one") == 8192
    driver.upload_start("u3", "")
    writer = driver.upload_writer("u3", {}, 0)
    writer.write([b"3" * 8192])
    size, state = writer.finish()
    driver.upload_commit("u3", state, size, "sha256/cc/three")
    assert driver.stat("sha256/cc/three") == 8192 and uploads(driver) == []


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_commit_the_disk_refuses_removes_the_upload(driver, monkeypatch, step, number):
    driver.upload_start("u4", "")
    writer = driver.upload_writer("u4", {}, 0)
    writer.write([b"4" * 4096])
    size, state = writer.finish()

    def refuse(*args, **kwargs):
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(os, step, refuse)  # delayed allocation, a quota, a new directory block
    with pytest.raises(StorageFull):
        driver.upload_commit("u4", state, size, "sha256/dd/four")
    monkeypatch.undo()
    assert uploads(driver) == [] and driver.stat("sha256/dd/four") is None


def test_a_put_whose_fsync_finds_the_disk_full_leaves_nothing(driver, monkeypatch):
    def refuse(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(StorageFull):
        driver.put("sha256/ee/five", b"5" * 100)
    monkeypatch.undo()
    assert uploads(driver) == [] and driver.stat("sha256/ee/five") is None


def test_no_inode_left_for_an_upload(driver, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StorageFull):
        driver.upload_start("u5", "")
    with pytest.raises(StorageFull):
        driver.put("sha256/ff/six", b"6")


def test_other_errors_stay_what_they_are(driver, monkeypatch):
    driver.upload_start("u6", "")
    writer = driver.upload_writer("u6", {}, 0)

    def broken(fd, chunks):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "writev", broken)
    with pytest.raises(OSError) as caught:
        writer.write([b"x"])
    monkeypatch.undo()
    writer.abort()
    assert not isinstance(caught.value, StorageFull) and caught.value.errno == errno.EIO
    assert uploads(driver) == ["u6"]  # an I/O error is not a reason to drop the upload
