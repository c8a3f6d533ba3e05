"""Many tags on one manifest, then the paged tag listing (?n=100, following Link headers) and
the whole list in one GET without ?n (what `docker`-less scripts and the 10k-tag row of
issue 19 ask for), FULL_LISTS times."""
from __future__ import annotations

import asyncio
import json
import re
import statistics
import time

from ..httpc import AsyncConn
from ..oci import with_query
from . import Ctx, Timer
from .push import detect_upload_mode, push_small_image, put_manifest

REPO = "bench/tags"
FULL_LISTS = 20
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


async def _main(ctx: Ctx) -> dict:
    o = ctx.opts
    setup = AsyncConn(ctx.host, ctx.port)
    mode = await detect_upload_mode(setup, REPO, o.upload_mode)
    manifest = await push_small_image(setup, REPO, "base", ctx.seed, 2048, mode)
    todo = iter(range(o.tags))

    async def worker() -> None:
        c = AsyncConn(ctx.host, ctx.port)
        for n in todo:
            await put_manifest(c, REPO, f"t{n:06d}", manifest)
        await c.close()

    with Timer() as t_push:
        await asyncio.gather(*(worker() for _ in range(o.tag_concurrency)))

    t0 = time.perf_counter()
    seen, pages = await _list(setup, f"/v2/{REPO}/tags/list?n={o.page_size}")
    t_list = time.perf_counter() - t0
    expected = o.tags + 1  # + "base"
    full = await _full_lists(setup, expected)
    await setup.close()

    if len(set(seen)) != expected or len(seen) != expected:
        raise AssertionError(f"tag listing returned {len(seen)} tags ({len(set(seen))} unique), "
                             f"expected {expected}")
    return {"tags_s": o.tags / t_push.wall, "push_seconds": t_push.wall,
            "list_seconds": t_list, "list_pages": pages, "client_cpu_s": t_push.cpu,
            "full_list_ms": statistics.median(full) * 1000}


async def _full_lists(conn: AsyncConn, expected: int) -> list[float]:
    """Seconds per GET of the whole list (no ?n); a server that pages anyway is followed."""
    times = []
    for _ in range(FULL_LISTS):
        t0 = time.perf_counter()
        found, _ = await _list(conn, f"/v2/{REPO}/tags/list")
        times.append(time.perf_counter() - t0)
        if len(found) != expected:
            raise AssertionError(f"the whole tag list had {len(found)} tags, expected {expected}")
    return times


async def _list(conn: AsyncConn, path: str | None) -> tuple[list[str], int]:
    """Every tag from ``path`` on, following Link headers; and the pages it took."""
    tags: list[str] = []
    pages = 0
    while path:
        r = (await conn.request("GET", path)).expect(200, what=f"GET {path}")
        tags.extend(json.loads(r.body).get("tags") or [])
        pages += 1
        m = LINK_NEXT.search(r.headers.get("link", ""))
        path = with_query(m.group(1)) if m else None
    return tags, pages


def push_and_list_tags(ctx: Ctx) -> dict:
    return asyncio.run(_main(ctx))
