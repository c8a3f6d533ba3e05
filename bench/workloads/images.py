"""Many small images pushed concurrently: unique layer + config blob, then an OCI manifest."""
from __future__ import annotations

import asyncio

from ..httpc import AsyncConn
from . import Ctx, Timer
from .push import detect_upload_mode, push_small_image

REPO = "bench/small"


async def _main(ctx: Ctx) -> dict:
    o = ctx.opts
    probe = AsyncConn(ctx.host, ctx.port)
    mode = await detect_upload_mode(probe, REPO, o.upload_mode)
    await probe.close()
    todo = iter(range(o.images))

    async def worker() -> None:
        c = AsyncConn(ctx.host, ctx.port)
        for n in todo:  # shared iterator: each image is taken by exactly one worker
            await push_small_image(c, REPO, f"img-{n}", ctx.seed * 1_000_000 + n,
                                   o.layer_kib * 1024, mode)
        await c.close()

    with Timer() as t:
        await asyncio.gather(*(worker() for _ in range(o.image_concurrency)))
    return {"images_s": o.images / t.wall, "seconds": t.wall, "client_cpu_s": t.cpu,
            "upload_mode": mode}


def push_images(ctx: Ctx) -> dict:
    return asyncio.run(_main(ctx))
