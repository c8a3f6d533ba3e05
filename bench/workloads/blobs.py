"""Large-blob workloads: monolithic push, chunked push, pull, and the big-blob RSS check."""
from __future__ import annotations

import itertools
import time

from ..httpc import Response, SyncConn, split_url, tls_for
from ..oci import MIB, blob_chunks, blob_digest, with_query
from . import Ctx, Timer

REPO = "bench/large"
BIG_REPO = "bench/big"


def _start_upload(c: SyncConn, repo: str) -> str:
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/").expect(202, what="POST upload")
    return r.headers["location"]


def _check_blob(c: SyncConn, repo: str, digest: str, size: int) -> None:
    r, _ = _follow(c, "HEAD", f"/v2/{repo}/blobs/{digest}")  # Distribution redirects HEADs too
    r.expect(200, what="HEAD blob")
    if int(r.headers.get("content-length", -1)) != size:
        raise AssertionError(f"HEAD blob: content-length {r.headers.get('content-length')} != {size}")


def _push_monolithic(ctx: Ctx, repo: str, size: int, seed: int) -> dict:
    digest = blob_digest(size, seed)  # precomputed outside the timed section
    c = SyncConn(ctx.host, ctx.port)
    with Timer() as t:
        loc = _start_upload(c, repo)
        c.request("PUT", with_query(loc, digest=digest), {"Content-Type": "application/octet-stream"},
                  body=blob_chunks(size, seed), length=size).expect(201, what="PUT blob")
    _check_blob(c, repo, digest, size)
    c.close()
    return {"mib_s": size / MIB / t.wall, "seconds": t.wall, "client_cpu_s": t.cpu}


def push_monolithic(ctx: Ctx) -> dict:
    """POST, then one PUT ?digest= carrying the whole blob."""
    return _push_monolithic(ctx, REPO, ctx.opts.blob_mib * MIB, ctx.seed * 10 + 1)


def push_chunked(ctx: Ctx) -> dict:
    """POST, PATCH with Content-Range per `chunk_mib` MiB, then PUT ?digest= with no body."""
    size, seed = ctx.opts.blob_mib * MIB, ctx.seed * 10 + 2
    step = ctx.opts.chunk_mib * MIB
    digest = blob_digest(size, seed)
    c = SyncConn(ctx.host, ctx.port)
    patches = 0
    with Timer() as t:
        loc = _start_upload(c, REPO)
        chunks = blob_chunks(size, seed)
        off = 0
        while off < size:
            n = min(step, size - off)
            body = itertools.islice(chunks, (n + MIB - 1) // MIB)
            r = c.request("PATCH", with_query(loc), {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{off}-{off + n - 1}"}, body=body, length=n)
            r.expect(202, what=f"PATCH at {off}")
            loc = r.headers["location"]
            off += n
            patches += 1
        c.request("PUT", with_query(loc, digest=digest)).expect(201, what="PUT (close upload)")
    _check_blob(c, REPO, digest, size)
    c.close()
    return {"mib_s": size / MIB / t.wall, "seconds": t.wall, "client_cpu_s": t.cpu,
            "patches": patches}


REDIRECTS = (301, 302, 303, 307, 308)


def _follow(c: SyncConn, method: str, path: str) -> tuple[Response, dict]:
    """`method` `path`, following redirects the way registry clients do: a redirect to another
    host (object storage serving the blob itself) gets a fresh connection without the
    registry's token. Returns the final response and how it got there."""
    info: dict = {"redirected": 0}
    t0 = time.perf_counter()
    r = c.request(method, path, keep_body=False)
    if r.status in REDIRECTS:  # the registry's own share of a redirected pull
        info["redirect_ms"] = (time.perf_counter() - t0) * 1e3
    for _ in range(5):
        if r.status not in REDIRECTS:
            return r, info
        location = r.headers["location"]
        host, port, target = split_url(location)
        info["redirected"] = 1
        info["redirect_to"] = f"{host}:{port}" if host else "(same host)"
        if host and (host, port) != (c.host, c.port):
            hop = SyncConn(host, port, foreign=True, tls=tls_for(location))
            try:
                r = hop.request(method, target, keep_body=False)
            finally:
                hop.close()
        else:
            r = c.request(method, target, keep_body=False)
    raise AssertionError(f"{method} blob: more than 5 redirects")


def pull(ctx: Ctx) -> dict:
    """GET of the blob `push_monolithic` pushed, body read in 1 MiB chunks and discarded;
    a redirect (307 to object storage) is followed and timed as part of the pull."""
    size, seed = ctx.opts.blob_mib * MIB, ctx.seed * 10 + 1
    digest = blob_digest(size, seed)
    c = SyncConn(ctx.host, ctx.port)
    with Timer() as t:
        r, info = _follow(c, "GET", f"/v2/{REPO}/blobs/{digest}")
    r.expect(200, what="GET blob" + (f" (redirected to {info['redirect_to']})"
                                     if info["redirected"] else ""))
    if r.nbytes != size:
        raise AssertionError(f"GET blob returned {r.nbytes} bytes, expected {size}")
    c.close()
    return {"mib_s": size / MIB / t.wall, "seconds": t.wall, "client_cpu_s": t.cpu, **info,
            **c.info}  # c.info: the TLS version and cipher, over HTTPS


def push_big(ctx: Ctx) -> dict:
    """Monolithic push of a --big-blob-gib blob; the parent records the server's peak RSS."""
    return _push_monolithic(ctx, BIG_REPO, int(ctx.opts.big_blob_gib * 1024) * MIB,
                            ctx.seed * 10 + 3)
