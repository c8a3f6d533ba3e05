"""Manifest GET and HEAD by tag: req/s and p50/p99 latency at several concurrencies (spread
round-robin over the nodes when the deployment has several)."""
from __future__ import annotations

import asyncio

from .. import loadgen
from ..httpc import AsyncConn
from ..oci import ACCEPT_MANIFESTS
from ..procmon import tree_cpu_seconds
from . import Ctx
from .push import detect_upload_mode, push_small_image

REPO = "bench/manifests"


async def _setup(ctx: Ctx) -> None:
    c = AsyncConn(ctx.host, ctx.port)
    mode = await detect_upload_mode(c, REPO, ctx.opts.upload_mode)
    await push_small_image(c, REPO, "latest", ctx.seed, 4096, mode)
    await c.close()
    for port in ctx.all_ports:  # pushed to one node, served by every node
        c = AsyncConn(ctx.host, port)
        r = await c.request("GET", f"/v2/{REPO}/manifests/latest", {"Accept": ACCEPT_MANIFESTS})
        r.expect(200, what=f"GET manifest on port {port}")
        await c.close()


def get_head(ctx: Ctx) -> dict:
    o = ctx.opts
    asyncio.run(_setup(ctx))
    probes = {name: (lambda p=list(pids): tree_cpu_seconds(p))
              for name, pids in (("server", ctx.server_pids), ("backend", ctx.backend_pids))
              if pids}
    out: dict = {}
    for method in ("GET", "HEAD"):
        for conc in o.concurrency:
            r = loadgen.load(ctx.host, ctx.all_ports, method, f"/v2/{REPO}/manifests/latest",
                             {"Accept": ACCEPT_MANIFESTS}, conc, o.warmup, o.duration,
                             probes)
            total = r["requests"] + r["errors"]
            if total == 0 or r["errors"] > 0.01 * total:
                raise AssertionError(f"{method} c={conc}: {r['errors']} errors of {total} "
                                     f"({r['error_kinds']})")
            for k, v in r.items():
                out[f"{method.lower()}_c{conc}_{k}"] = v
    return out
