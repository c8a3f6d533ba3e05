"""Body bytes on a non-blocking socket the event loop also holds (a duplicate descriptor).

No thread ever waits for the network: request bodies are read on the event loop (a read
that would block waits there, for readiness), and response bodies are sent by worker threads
in steps that end when the socket is full; the wait for room is again on the loop. A peer
that sends or takes nothing for ``idle`` seconds is given up on (TimeoutError).
"""
from __future__ import annotations

import asyncio
import os
import queue
import select
import threading
from typing import Callable, Iterator

from starlette.requests import ClientDisconnect

# Bytes asked of the kernel per read: what a loopback or LAN socket buffer holds.
READ_BYTES = 1024 * 1024
# Responses at least this long have their next chunk produced (read, decrypted) in a second
# thread while this one is being written.
READ_AHEAD_BYTES = 4 * 1024 * 1024
# A sending step that moved this much keeps its thread a moment for room to come back
# (a fast reader), instead of a round trip through the loop; a slow reader never holds it.
LINGER_AFTER_BYTES = 256 * 1024
LINGER_SECONDS = 0.005


async def wait_ready(fd: int, writable: bool, idle: float) -> None:
    """Wait on the event loop until ``fd`` can be read (written); TimeoutError after ``idle``."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = ((loop.add_writer, loop.remove_writer) if writable else
                   (loop.add_reader, loop.remove_reader))
    add(fd, _wake, ready)
    try:
        async with asyncio.timeout(idle):
            await ready
    finally:
        remove(fd)


def _wake(ready: asyncio.Future) -> None:
    if not ready.done():
        ready.set_result(None)


def _room_soon(sock_fd: int) -> bool:
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    return bool(poller.poll(LINGER_SECONDS * 1000))


class Sender:
    """A response body sent in steps, each in a worker thread: ``step(sock_fd)`` writes until
    done (True) or until the socket is full (False: wait for room, then step again)."""

    sent = 0

    def step(self, sock_fd: int) -> bool:
        moved = 0
        while True:
            try:
                n = self._write(sock_fd)
            except BlockingIOError:
                if moved < LINGER_AFTER_BYTES or not _room_soon(sock_fd):
                    return False
                moved = 0
                continue
            if n is None:
                return True
            moved += n
            self.sent += n

    def _write(self, sock_fd: int) -> int | None:
        """Write some bytes: how many, None when all are out; BlockingIOError when full."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the body holds (blocking: call it in a worker thread)."""


class FileSender(Sender):
    """``count`` bytes of an open file from ``offset``, with os.sendfile."""

    def __init__(self, file_fd: int, offset: int, count: int):
        self.file_fd, self.offset, self.end = file_fd, offset, offset + count

    def _write(self, sock_fd: int) -> int | None:
        if self.offset >= self.end:
            return None
        n = os.sendfile(sock_fd, self.file_fd, self.offset, self.end - self.offset)
        if n == 0:
            raise EOFError(f"file ended {self.end - self.offset} bytes early")
        self.offset += n
        return n


class ChunksSender(Sender):
    """Every chunk of a blocking iterator; RuntimeError past ``limit`` bytes."""

    def __init__(self, chunks: Iterator[bytes], limit: int):
        self.limit = limit
        self.chunks = _ReadAhead(chunks) if limit >= READ_AHEAD_BYTES else iter(chunks)
        self.pending = memoryview(b"")
        self.produced = 0

    def _write(self, sock_fd: int) -> int | None:
        if not self.pending:
            data = next(self.chunks, None)
            if data is None:
                return None
            self.produced += len(data)
            if self.produced > self.limit:
                raise RuntimeError("Response content longer than Content-Length")
            self.pending = memoryview(data)
            if not data:
                return 0
        n = os.write(sock_fd, self.pending)
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        if isinstance(self.chunks, _ReadAhead):
            self.chunks.close()


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
        return self

    def __next__(self) -> bytes:
        item = self._queue.get()
        if item is self._END:
            self._queue.put(item)  # stays at the end
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class SocketBody:
    """A request body of known length, read on the event loop straight off the socket: first
    the bytes the server had already parsed, then exactly the rest, so a pipelined request
    after it stays for the server. An async iterator; ``done(ok)`` is called once, when the
    socket is handed back: at the end, on an error, or on close() (then ok only if all was
    read). ClientDisconnect if the peer closes, or sends nothing for ``idle`` seconds."""

    def __init__(self, prefix: bytes, sock_fd: int, remaining: int,
                 done: Callable[[bool], None], idle: float, disconnected: bool = False):
        self._prefix, self.remaining = prefix, remaining
        self._fd, self._done, self._disconnected = sock_fd, done, disconnected
        self._idle = idle
        self.received = 0  # bytes handed out so far (the request log counts them)

    def __aiter__(self) -> SocketBody:
        return self

    async def __anext__(self) -> bytes:
        if self._disconnected:
            raise ClientDisconnect()
        if self._prefix:
            data, self._prefix = self._prefix, b""
            self.received += len(data)
            return data
        if self.remaining <= 0:
            self.close()
            raise StopAsyncIteration
        try:
            data = await self._read(min(READ_BYTES, self.remaining))
        except BaseException:
            self.close()
            raise
        self.remaining -= len(data)
        self.received += len(data)
        return data

    async def _read(self, n: int) -> bytes:
        while True:
            try:
                data = os.read(self._fd, n)
            except BlockingIOError:
                try:
                    await wait_ready(self._fd, False, self._idle)
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
