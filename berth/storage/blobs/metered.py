"""A driver that times every call to the storage it wraps and counts the calls that failed,
as Distribution's instrumented storage driver does: the storage's own latency and errors,
beneath the sealing (the app wraps the real driver in this, and this in the encrypting one).

A blob or upload that is not there (BlobNotFound) is an answer, not a failure. Reads and
walks are timed to their first bytes or entry: how long the storage took to answer, not how
long the client took to take the bytes."""
from __future__ import annotations

from time import perf_counter
from typing import Callable, Iterator

from ...observability.metrics import StorageMetrics
from .base import READ_CHUNK, BlobDriver, BlobNotFound, StoredObject, UploadState, \
    UploadWriter


class MeteredDriver(BlobDriver):
    def __init__(self, inner: BlobDriver):
        self.inner = inner
        self.name = inner.name
        self.metrics = StorageMetrics(inner.name)

    def _call(self, operation: str, fn: Callable, *args):
        seconds, errors = self.metrics.of(operation)
        started = perf_counter()
        try:
            with _Failures(errors):
                return fn(*args)
        finally:
            seconds.observe(perf_counter() - started)

    def _stream(self, operation: str, make: Callable[[], Iterator]) -> Iterator:
        """``make()``'s items, timed to the first (lazily, as the drivers' own iterators:
        nothing runs and nothing is raised before the first item is asked for)."""
        seconds, errors = self.metrics.of(operation)
        started, timing = perf_counter(), True
        try:
            with _Failures(errors):
                for item in make():
                    if timing:
                        seconds.observe(perf_counter() - started)
                        timing = False
                    yield item
        finally:
            if timing:  # failed or empty before its first item
                seconds.observe(perf_counter() - started)

    # -- committed blobs -------------------------------------------------------------------
    def stat(self, key: str) -> int | None:
        return self._call("stat", self.inner.stat, key)

    def read(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        return self._stream("read", lambda: self.inner.read(key, offset, length, chunk_size))

    def put(self, key: str, data: bytes) -> None:
        self._call("put", self.inner.put, key, data)

    def delete(self, key: str) -> None:
        self._call("delete", self.inner.delete, key)

    def delete_many(self, keys: list[str]) -> list[str]:
        return self._call("delete_many", self.inner.delete_many, keys)

    def walk(self, prefix: str = "") -> Iterator[StoredObject]:
        return self._stream("walk", lambda: self.inner.walk(prefix))

    def open_file(self, key: str) -> int | None:
        return self._call("open_file", self.inner.open_file, key)

    def redirect_url(self, key: str, expires_in: int) -> str | None:
        return self.inner.redirect_url(key, expires_in)  # computed locally: no storage call

    # -- uploads ---------------------------------------------------------------------------
    def upload_start(self, upload_id: str, key_ref: str = "") -> UploadState:
        return self._call("upload_start", self.inner.upload_start, upload_id, key_ref)

    def upload_writer(self, upload_id: str, state: UploadState, offset: int) -> UploadWriter:
        writer = self._call("upload_writer", self.inner.upload_writer, upload_id, state,
                            offset)
        return _MeteredWriter(self, writer)

    def upload_read(self, upload_id: str, state: UploadState, size: int) -> Iterator[bytes]:
        return self._stream("upload_read", lambda: self.inner.upload_read(upload_id, state,
                                                                          size))

    def upload_commit(self, upload_id: str, state: UploadState, size: int, key: str) -> None:
        self._call("upload_commit", self.inner.upload_commit, upload_id, state, size, key)

    def upload_abort(self, upload_id: str, state: UploadState) -> None:
        self._call("upload_abort", self.inner.upload_abort, upload_id, state)

    def upload_ids_older_than(self, timestamp: float) -> list[str]:
        return self._call("upload_list", self.inner.upload_ids_older_than, timestamp)

    def check(self) -> None:
        self._call("check", self.inner.check)

    def close(self) -> None:
        self.inner.close()


class _Failures:
    """Counts a failure of the block (BlobNotFound is an answer, not a failure)."""
    __slots__ = ("errors",)

    def __init__(self, errors):
        self.errors = errors

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is not None and issubclass(kind, Exception) and not issubclass(
                kind, BlobNotFound):
            self.errors.inc()
        return False


class _MeteredWriter(UploadWriter):
    def __init__(self, driver: MeteredDriver, inner: UploadWriter):
        self.driver = driver
        self.inner = inner

    def write(self, chunks: list[bytes]) -> None:
        self.driver._call("upload_write", self.inner.write, chunks)

    def finish(self) -> tuple[int, UploadState]:
        return self.driver._call("upload_finish", self.inner.finish)

    def abort(self) -> None:
        self.inner.abort()
