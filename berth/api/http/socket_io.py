"""Blocking socket I/O for worker threads, on a non-blocking socket the event loop also holds:
a wait for readiness (poll) then a syscall, until done or until the peer idles too long."""
from __future__ import annotations

import os
import queue
import select
import threading
from typing import Callable, Iterator

from starlette.requests import ClientDisconnect

# A peer that sends or takes nothing for this long is given up on.
IDLE_SECONDS = 300.0
# Bytes asked of the kernel per read: what a loopback or LAN socket buffer holds.
READ_BYTES = 1024 * 1024
# Responses at least this long have their next chunk produced (read, decrypted) in a second
# thread while this one is being written.
READ_AHEAD_BYTES = 4 * 1024 * 1024


def _wait(fd: int, event: int) -> None:
    poller = select.poll()
    poller.register(fd, event)
    if not poller.poll(IDLE_SECONDS * 1000):
        raise TimeoutError(f"peer idle for {IDLE_SECONDS:.0f} s")


def send_file(sock_fd: int, file_fd: int, offset: int, count: int) -> int:
    """os.sendfile ``count`` bytes of the file from ``offset``; OSError if the peer goes."""
    end = offset + count
    while offset < end:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, end - offset)
        except BlockingIOError:
            _wait(sock_fd, select.POLLOUT)
            continue
        if sent == 0:
            raise EOFError(f"file ended {end - offset} bytes early")
        offset += sent
    return count


def send_chunks(sock_fd: int, chunks: Iterator[bytes], limit: int) -> int:
    """Write every chunk; RuntimeError past ``limit`` bytes. Returns the bytes written."""
    total = 0
    source = _ReadAhead(chunks) if limit >= READ_AHEAD_BYTES else chunks
    try:
        for data in source:
            total += len(data)
            if total > limit:
                raise RuntimeError("Response content longer than Content-Length")
            _write_all(sock_fd, data)
    finally:
        if source is not chunks:
            source.close()
    return total


def _write_all(sock_fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(sock_fd, view):]
        except BlockingIOError:
            _wait(sock_fd, select.POLLOUT)


class _ReadAhead:
    """Iterates ``chunks`` in a thread of its own, one chunk ahead of the consumer."""

    _END = object()

    def __init__(self, chunks: Iterator[bytes]):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(chunks,), daemon=True,
                                        name="berth-read-ahead")
        self._thread.start()

    def _produce(self, chunks: Iterator[bytes]) -> None:
        item: object = self._END
        try:
            for data in chunks:
                if not self._put(data):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            item = exc
        self._put(item)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class SocketBody:
    """A request body of known length read off the socket in a worker thread: first the bytes
    the server had already parsed, then exactly the rest, so a pipelined request after it
    stays for the server. An iterator; ``done(ok)`` is called once, when the socket is handed
    back: at the end, on an error, or on close() (then ok only if all was read)."""

    def __init__(self, prefix: bytes, sock_fd: int, remaining: int,
                 done: Callable[[bool], None], disconnected: bool = False):
        self._prefix, self.remaining = prefix, remaining
        self._fd, self._done, self._disconnected = sock_fd, done, disconnected

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        """The next bytes; ClientDisconnect if the peer closes or stalls before the end."""
        if self._disconnected:
            raise ClientDisconnect()
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        if self.remaining <= 0:
            self.close()
            raise StopIteration
        try:
            data = self._read(min(READ_BYTES, self.remaining))
        except BaseException:
            self.close()
            raise
        self.remaining -= len(data)
        return data

    def _read(self, n: int) -> bytes:
        while True:
            try:
                data = os.read(self._fd, n)
            except BlockingIOError:
                try:
                    _wait(self._fd, select.POLLIN)
                except TimeoutError:
                    raise ClientDisconnect() from None
                continue
            except OSError:
                raise ClientDisconnect() from None
            if not data:
                raise ClientDisconnect()
            return data

    def close(self) -> None:
        """Hand the socket back; unread bytes leave the connection unusable (it is closed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._done(self.remaining <= 0)
