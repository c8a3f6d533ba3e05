"""Blobs as files: committed blobs under ``data/``, uploads under ``uploads/`` on the same
filesystem, so commit is an fsync plus an atomic rename.

A write the filesystem has no room for (ENOSPC, EDQUOT: on a write, an fsync, a rename)
raises StorageFull, and the upload or temporary file it was writing is removed at once: its
bytes are useless (the upload is gone: BlobNotFound after), and a full disk needs the room."""
from __future__ import annotations

import fcntl
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from ..errors import BLOB_STORAGE, is_full, storage_full
from .base import (READ_CHUNK, BlobDriver, BlobNotFound, StoredObject, UploadState,
                   UploadWriter, check_prefix)

_IOV_MAX = 1024
_WRITEBACK_BYTES = 16 * 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _start_writeback(path: Path, offset: int, length: int) -> None:
    """Have the kernel start writing a range of a file to disk (on Linux, DONTNEED on dirty
    pages initiates writeback), so that the fsync at commit only waits for the tail."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # already committed or aborted
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class _FileUploadWriter(UploadWriter):
    def __init__(self, path: Path, offset: int, writeback: ThreadPoolExecutor):
        self._path = path
        self._writeback = writeback
        self._fd = os.open(path, os.O_WRONLY)
        # One writer per upload at a time, across threads, workers and processes.
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        # Bytes past the acknowledged size are an interrupted write's. Only then truncate:
        # on ext4 a truncate waits for the file's writeback in progress, even to its size.
        if os.fstat(self._fd).st_size != offset:
            os.ftruncate(self._fd, offset)
        os.lseek(self._fd, offset, os.SEEK_SET)
        self._size = self._written_back = offset

    def write(self, chunks: list[bytes]) -> None:
        if len(chunks) > _IOV_MAX:
            chunks = [b"".join(chunks)]
        total = sum(len(c) for c in chunks)
        try:
            written = os.writev(self._fd, chunks)
            if written < total:  # short write: finish the rest one buffer at a time
                rest = memoryview(b"".join(chunks))[written:]
                while rest:
                    rest = rest[os.write(self._fd, rest):]
        except OSError as exc:
            self._fail(exc)
        self._size += total
        if self._size - self._written_back >= _WRITEBACK_BYTES:
            self._flush_behind()

    def _flush_behind(self) -> None:
        # In the background: waiting for the disk here would stall the upload.
        length = self._size - self._written_back
        if length > 0:
            self._writeback.submit(_start_writeback, self._path, self._written_back, length)
            self._written_back = self._size

    def finish(self) -> tuple[int, UploadState]:
        # No fsync per chunk: a process crash keeps the page cache, and after a power loss
        # a chunk that did not reach the disk fails the digest check at completion, so the
        # upload fails cleanly. The blob itself is fsynced before it becomes visible.
        self._flush_behind()
        try:
            self._close()
        except OSError as exc:  # a quota or network filesystem may refuse the data only now
            self._fail(exc)
        return self._size, {}

    def abort(self) -> None:
        self._close()

    def _fail(self, exc: OSError):
        """Out of room: the upload file goes now (under our lock), then StorageFull;
        any other error as it is."""
        if is_full(exc):
            _remove(self._path)
            try:
                self._close()
            except OSError:
                pass
            _raise_if_full(exc)
        raise exc

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # also releases the flock


class FilesystemDriver(BlobDriver):
    name = "filesystem"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._data = self.root / "data"
        self._uploads = self.root / "uploads"
        self._data.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._writeback = ThreadPoolExecutor(1, thread_name_prefix="berth-writeback")

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self._data / key

    def _upload_path(self, upload_id: str) -> Path:
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError(f"invalid upload id {upload_id!r}")
        return self._uploads / upload_id

    def stat(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def open_file(self, key: str) -> int | None:
        try:
            return os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def read(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        path = self._path(key)
        if not path.exists():
            raise BlobNotFound(key)
        return _read_file(path, offset, length, chunk_size)

    def put(self, key: str, data: bytes) -> None:
        # Removed on failure; a crash leaves it to be swept like any stale upload.
        temp = self._uploads / f"put-{uuid.uuid4().hex}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            _raise_if_full(exc)
            raise
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._move_into_place(temp, self._path(key))
        except BaseException as exc:
            _remove(temp)
            if isinstance(exc, OSError):
                _raise_if_full(exc)
            raise

    def _move_into_place(self, src: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        _fsync_dir(dest.parent)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def walk(self, prefix: str = "") -> Iterator[StoredObject]:
        # Only data/ is walked: put's temporaries and uploads live in uploads/ until the
        # rename that commits them. Start in the deepest folder the prefix names.
        check_prefix(prefix)
        folder, _, stem = prefix.rpartition("/")
        top = self._data / folder if folder else self._data
        yield from _walk_files(str(top), f"{folder}/" if folder else "", stem)

    def upload_start(self, upload_id: str, key_ref: str = "") -> UploadState:
        try:
            fd = os.open(self._upload_path(upload_id),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:  # out of inodes
            _raise_if_full(exc)
            raise
        os.close(fd)
        return {}

    def upload_writer(self, upload_id: str, state: UploadState, offset: int) -> UploadWriter:
        try:
            return _FileUploadWriter(self._upload_path(upload_id), offset, self._writeback)
        except FileNotFoundError as exc:
            raise BlobNotFound(upload_id) from exc

    def upload_read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        path = self._upload_path(upload_id)
        if not path.exists():
            raise BlobNotFound(upload_id)
        return _read_file(path, 0, size, READ_CHUNK)

    def upload_commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        src = self._upload_path(upload_id)
        dest = self._path(key)
        try:
            with open(src, "r+b") as fh:
                # Bytes past the acknowledged size belong to an interrupted write.
                if os.fstat(fh.fileno()).st_size != size:
                    fh.truncate(size)
                os.fsync(fh.fileno())  # where delayed allocation finds the disk full
            self._move_into_place(src, dest)
        except FileNotFoundError:  # committed or aborted already
            raise BlobNotFound(upload_id) from None
        except OSError as exc:
            if is_full(exc):
                _remove(src)  # bytes that may not all have reached the disk: gone
            _raise_if_full(exc)
            raise

    def upload_abort(self, upload_id: str, state: UploadState) -> None:
        try:
            self._upload_path(upload_id).unlink()
        except FileNotFoundError:
            pass

    def upload_ids_older_than(self, timestamp: float) -> list[str]:
        found = []
        for entry in os.scandir(self._uploads):
            try:
                if entry.is_file() and entry.stat().st_mtime < timestamp:
                    found.append(entry.name)
            except FileNotFoundError:
                continue
        return found

    def close(self) -> None:
        self._writeback.shutdown(wait=False, cancel_futures=True)

    def check(self) -> None:
        if not os.access(self._data, os.W_OK) or not os.access(self._uploads, os.W_OK):
            raise OSError(f"blob storage at {self.root} is not writable")


def _raise_if_full(exc: OSError) -> None:
    """StorageFull in place of an error that says the filesystem is full."""
    if is_full(exc):
        raise storage_full(BLOB_STORAGE, exc) from exc


def _walk_files(path: str, key_prefix: str, stem: str = "") -> Iterator[StoredObject]:
    """Files under ``path`` (names starting with ``stem`` at its top), depth first, one open
    directory per level; what is deleted while we walk is skipped."""
    try:
        entries = os.scandir(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            if not entry.name.startswith(stem):
                continue
            key = key_prefix + entry.name
            if _is_dir(entry):
                yield from _walk_files(entry.path, key + "/")
                continue
            found = _stored_file(entry, key)
            if found is not None:
                yield found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except FileNotFoundError:
        return False


def _stored_file(entry: os.DirEntry, key: str) -> StoredObject | None:
    try:
        if not entry.is_file(follow_symlinks=False):
            return None
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    # A commit renames the upload file, which sets ctime but keeps the mtime of its last
    # append: the later of the two is when the key was written, which the GC's grace needs.
    return StoredObject(key, st.st_size, max(st.st_mtime, st.st_ctime))


def _read_file(path: Path, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise BlobNotFound(str(path)) from exc
    try:
        remaining = length if length is not None else os.fstat(fd).st_size - offset
        while remaining > 0:
            chunk = os.pread(fd, min(chunk_size, remaining), offset)
            if not chunk:
                break
            offset += len(chunk)
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
