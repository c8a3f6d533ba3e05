"""Closed-loop HTTP/1.1 load generator for small GET/HEAD requests.

`concurrency` keep-alive connections each send one request, wait for the full response, and
send the next one (no pipelining) for `warmup + duration` seconds; only responses completed in
the `duration` window are counted. Built on asyncio Protocol callbacks (no coroutine per
request) to keep per-request client CPU low; uses uvloop when importable.

Over HTTPS (httpc.DEFAULT_TLS set by httpc.configure) each connection makes its TLS handshake
once, as it opens (in the warm-up); the requests after reuse it (keep-alive, as over HTTP).

Besides req/s and latency percentiles it reports the client's own CPU time in the window, so
`requests / client_cpu_s` is the client's ceiling (req/s it could sustain on one full core).
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Callable, Sequence

from . import httpc

try:
    import uvloop
except ImportError:  # stdlib asyncio still works, with a lower client ceiling
    uvloop = None


class _Conn(asyncio.Protocol):
    def __init__(self, req: bytes, head_only: bool, run: "_Run", port: int = 0):
        self.req, self.head_only, self.run, self.port = req, head_only, run, port
        self.buf = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.t0 = time.perf_counter()
        self.transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return
        head = buf[:end].lower()
        need = end + 4
        if not self.head_only:
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                need += int(head[i + 17:j if j > 0 else len(head)])
            elif b"transfer-encoding: chunked" in head:
                term = buf.find(b"\r\n0\r\n\r\n", end)
                if term < 0:
                    self.buf = buf
                    return
                need = term + 7
        if len(buf) < need:
            self.buf = buf
            return
        self.buf = buf[need:]
        now = time.perf_counter()
        self.run.done(self, now, head[9:12])
        if now < self.run.stop_at:
            self._send()
        else:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.run.closed(self, exc)


class _Run:
    def __init__(self, loop, n: int, start: float, stop: float):
        self.loop, self.open = loop, n
        self.start_at, self.stop_at = start, stop
        self.lat: list[float] = []
        self.errors: dict[str, int] = {}
        self.per_port: dict[int, int] = {}
        self.finished = loop.create_future()

    def done(self, conn: _Conn, now: float, status: bytes) -> None:
        if status != b"200":
            self.errors[status.decode()] = self.errors.get(status.decode(), 0) + 1
        elif self.start_at <= now <= self.stop_at:
            self.lat.append(now - conn.t0)
            self.per_port[conn.port] = self.per_port.get(conn.port, 0) + 1

    def closed(self, conn: _Conn, exc) -> None:
        if exc is not None or time.perf_counter() < self.stop_at:
            self.errors["conn-lost"] = self.errors.get("conn-lost", 0) + 1
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


def _pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100 * len(sorted_vals)))]


async def _drive(host: str, reqs: dict[int, bytes], head_only: bool, concurrency: int,
                 warmup: float, duration: float, probes: dict[str, Callable[[], float]]) -> dict:
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    run = _Run(loop, concurrency, now + warmup, now + warmup + duration)
    cpu: dict[str, float] = {}

    def mark(at: str) -> None:
        cpu[at] = time.process_time()
        for name, probe in probes.items():
            cpu[f"{name}_{at}"] = probe()
    loop.call_later(warmup, mark, "a")
    loop.call_later(warmup + duration, mark, "b")
    ports = list(reqs)
    tls = {"ssl": httpc.DEFAULT_TLS, "server_hostname": host} if httpc.DEFAULT_TLS else {}
    for i in range(concurrency):  # connections spread round-robin over the ports
        port = ports[i % len(ports)]
        await loop.create_connection(lambda r=reqs[port], p=port: _Conn(r, head_only, run, p),
                                     host, port, **tls)
    await asyncio.wait_for(run.finished, warmup + duration + 30)
    for at in ("a", "b"):  # all connections closed early (a failed run): mark now
        if at not in cpu:
            mark(at)
    lat = sorted(run.lat)
    client_cpu = cpu["b"] - cpu["a"]
    return {
        "req_s": len(lat) / duration,
        "p50_ms": _pct(lat, 50) * 1e3,
        "p99_ms": _pct(lat, 99) * 1e3,
        "requests": len(lat),
        "errors": sum(run.errors.values()),
        "error_kinds": dict(run.errors),
        "port_requests": [run.per_port.get(p, 0) for p in ports],
        "client_cpu_s": client_cpu,
        "client_cpu_pct": 100 * client_cpu / duration,
        "client_ceiling_req_s": len(lat) / client_cpu if client_cpu > 0 else float("inf"),
    } | _probed(cpu, probes, duration, len(lat))


def _probed(cpu: dict[str, float], probes: dict, duration: float, requests: int) -> dict:
    out = {}
    for name in probes:
        used = cpu[f"{name}_b"] - cpu[f"{name}_a"]
        out[f"{name}_cpu_pct"] = 100 * used / duration
        out[f"{name}_cpu_us_per_req"] = 1e6 * used / requests if requests else float("nan")
    return out


def load(host: str, port: int | Sequence[int], method: str, path: str,
         headers: dict[str, str], concurrency: int, warmup: float, duration: float,
         probes: dict[str, Callable[[], float]] | None = None) -> dict:
    """Several ports (nodes of one deployment): connection i goes to port i mod len(ports).
    `probes` (name -> CPU seconds of some processes so far, e.g. the server's) are read when
    the window opens and closes: <name>_cpu_pct and <name>_cpu_us_per_req."""
    ports = [port] if isinstance(port, int) else list(port)
    reqs = {}
    for p in ports:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{p}"]
        lines += [f"{k}: {v}" for k, v in {**httpc.DEFAULT_HEADERS, **headers}.items()]
        reqs[p] = ("\r\n".join(lines) + "\r\n\r\n").encode()
    coro = _drive(host, reqs, method == "HEAD", concurrency, warmup, duration, probes or {})
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


class _CannedServer(asyncio.Protocol):
    """Answers every request head with the same manifest-sized 200 response."""
    RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                b"Content-Length: 1024\r\n\r\n" + b"x" * 1024)

    def connection_made(self, transport) -> None:
        self.transport, self.tail = transport, b""

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        n = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4:] if n else data
        if n:
            self.transport.write(self.RESPONSE * n)


def _serve_canned(port: int, cpu: int | None, ready) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_CannedServer, "127.0.0.1", port)
        ready.set()
        await server.serve_forever()
    (uvloop.run if uvloop is not None else asyncio.run)(main())


def selftest(concurrency: int = 64, duration: float = 2.0) -> dict:
    """The client's own ceiling: GET against a trivial canned-response server in another
    process. With 2+ CPUs the server and the client are pinned to different CPUs."""
    import multiprocessing
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    mp = multiprocessing.get_context("fork")
    ready = mp.Event()
    server = mp.Process(target=_serve_canned, args=(port, server_cpu, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("self-test server did not start")
        # A fresh process so the pinning does not leak into the caller; terminate()'s
        # SIGTERM must end it quietly, not through the caller's unwinding handler.
        client = mp.Pool(1, signal.signal, (signal.SIGTERM, signal.SIG_DFL))
        try:
            return client.apply(_pinned_load, (port, client_cpu, concurrency, duration))
        finally:
            client.terminate()
    finally:
        server.kill()
        server.join()


def _pinned_load(port: int, cpu: int | None, concurrency: int, duration: float) -> dict:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    return load("127.0.0.1", port, "GET", "/v2/x/manifests/latest", {"Accept": "*/*"},
                concurrency, 0.5, duration)


if __name__ == "__main__":
    for c in (1, 16, 64):
        r = selftest(c)
        print(f"c={c:3d}: {r['req_s']:9,.0f} req/s  p50 {r['p50_ms']:.3f} ms  "
              f"client CPU {r['client_cpu_pct']:.0f}% of a core  "
              f"(ceiling by CPU: {r['client_ceiling_req_s']:,.0f} req/s)")
