"""A throttled link for the benchmarks: a TCP relay (threads, standard library only) in front
of a server on loopback. The server -> client direction goes through one token bucket shared
by all the relay's connections, as over one link of `mib_s` MiB/s; client -> server (requests,
small) is relayed as is. No added latency: only the bandwidth is limited."""
from __future__ import annotations

import socket
import threading
import time

MIB = 1 << 20
CHUNK = 64 * 1024  # read size of the relay; the bucket's burst is at least 4 of these


class TokenBucket:
    """`rate` bytes/s, at most `burst` bytes ahead; `total` bytes taken so far."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst, self.total = rate, burst, 0
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        """Blocks until `n` bytes may go. The bucket may go into debt: each taker sleeps until
        its own bytes (and those of the takers before it) are paid for, so oversleeping is
        made up for by the refill, up to `burst`."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - n
            self.stamp, self.total = now, self.total + n
            wait = -self.tokens / self.rate
        if wait > 0:
            time.sleep(wait)


class ThrottledProxy:
    """Listens on 127.0.0.1:<free port>; relays each connection to `target_port`."""

    def __init__(self, target_port: int, mib_s: float, host: str = "127.0.0.1"):
        self.target, self.mib_s = (host, target_port), mib_s
        rate = mib_s * MIB
        self.bucket = TokenBucket(rate, burst=max(4 * CHUNK, int(rate / 100)))  # <= 10 ms
        self.listener = socket.create_server((host, 0))
        self.base_url = f"http://{host}:{self.listener.getsockname()[1]}"
        self._socks: set[socket.socket] = set()
        self._lock, self._stopped = threading.Lock(), False

    @property
    def relayed(self) -> int:
        """Bytes relayed server -> client so far."""
        return self.bucket.total

    def start(self) -> ThrottledProxy:
        threading.Thread(target=self._accept, daemon=True, name="throttle-accept").start()
        return self

    def stop(self) -> None:
        with self._lock:
            socks, self._socks, self._stopped = [self.listener, *self._socks], set(), True
        for s in socks:  # shutdown wakes threads blocked in accept/recv; close alone does not
            _shutdown(s)
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                if self._stopped:
                    return
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks |= {client, server}
            threading.Thread(target=self._serve, args=(client, server), daemon=True).start()

    def _serve(self, client: socket.socket, server: socket.socket) -> None:
        up = threading.Thread(target=self._pump, args=(client, server, None), daemon=True)
        up.start()
        self._pump(server, client, self.bucket)
        up.join()
        with self._lock:
            self._socks -= {client, server}
        client.close()
        server.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, bucket: TokenBucket | None) -> None:
        try:
            while data := src.recv(CHUNK):
                if bucket is not None:
                    bucket.take(len(data))
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)  # pass the EOF on; the other direction goes on
        except OSError:  # a reset (or stop()): end both directions
            _shutdown(src)
            _shutdown(dst)


def _shutdown(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
