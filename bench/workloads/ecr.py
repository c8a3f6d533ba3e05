"""ECR API reads over one big repository (Berth only: Distribution has no ECR API).

Setup: --ecr-images distinct OCI manifests (one shared config and layer, an annotation varies),
each tagged, pushed over the OCI API on keep-alive connections at --image-concurrency.
Measured, every request SigV4-signed per request with the admin key (botocore's SigV4Auth;
the signing cost is the client's and shows in its CPU):
  DescribeImages / ListImages paged over the whole repository at maxResults 100 and 1000,
  the walk repeated until >= 100 pages: pages/s, images/s, p50/p99 per page, walk wall time;
  BatchGetImage with 1 and 10 image ids per call at concurrency 1 and 16, closed loop for
  --duration s after --warmup: req/s, images/s, p50/p99.
"""
from __future__ import annotations

import asyncio
import json
import math
import random
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ..httpc import AsyncConn
from ..loadgen import _pct
from ..oci import (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, image_config, sha256_digest,
                   small_layer)
from . import Ctx, Timer
from .push import detect_upload_mode, put_manifest, upload_blob

REPO = "bench/ecr"
REGION = "us-east-1"
TARGET = "AmazonEC2ContainerRegistry_V20150921."
PAGE_SIZES = (100, 1000)
BATCH = ((1, 1), (1, 16), (10, 1), (10, 16))  # (image ids per call, concurrency)
MIN_PAGES = 100  # walks are repeated until this many pages were timed (p99 needs samples)


class Signer:
    def __init__(self, ctx: Ctx):
        access_key, secret_key = ctx.credentials
        self.auth = SigV4Auth(Credentials(access_key, secret_key), "ecr", REGION)
        self.url = f"http://{ctx.host}:{ctx.port}/"

    def sign(self, operation: str, params: dict) -> tuple[dict[str, str], bytes]:
        body = json.dumps(params).encode()
        req = AWSRequest("POST", self.url, data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation})
        self.auth.add_auth(req)
        return dict(req.headers.items()), body


async def call(c: AsyncConn, signer: Signer, operation: str, params: dict) -> tuple[dict, float]:
    """One signed ECR call -> (decoded response, seconds from send to full response)."""
    headers, body = signer.sign(operation, params)
    t0 = time.perf_counter()
    r = await c.request("POST", "/", headers, body)
    took = time.perf_counter() - t0
    r.expect(200, what=operation)
    return json.loads(r.body), took


def manifest(config: bytes, layer: bytes, n: int) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}],
        "annotations": {"org.example.bench.n": str(n)},
    }, separators=(",", ":")).encode()


async def _setup(ctx: Ctx) -> tuple[list[str], dict]:
    o = ctx.opts
    c = AsyncConn(ctx.host, ctx.port)
    layer = small_layer(ctx.seed, 1024)
    config = image_config(sha256_digest(layer), ctx.seed)
    todo = iter(range(o.ecr_images))
    digests: list[str] = [""] * o.ecr_images

    async def worker() -> None:
        w = AsyncConn(ctx.host, ctx.port)
        for n in todo:
            m = manifest(config, layer, n)
            digests[n] = sha256_digest(m)
            await put_manifest(w, REPO, f"i{n:06d}", m)
        await w.close()

    with Timer() as t:
        mode = await detect_upload_mode(c, REPO, o.upload_mode)
        await upload_blob(c, REPO, layer, mode)
        await upload_blob(c, REPO, config, mode)
        await asyncio.gather(*(worker() for _ in range(o.image_concurrency)))
    await c.close()
    return digests, {"setup_s": t.wall, "setup_images_s": o.ecr_images / t.wall,
                     "setup_client_cpu_s": t.cpu}


async def _walks(c: AsyncConn, signer: Signer, operation: str, key: str, size: int,
                 expected: int) -> dict:
    walks = max(1, math.ceil(MIN_PAGES / math.ceil(expected / size)))
    lat: list[float] = []
    walls: list[float] = []
    with Timer() as t:
        for _ in range(walks):
            seen, token, t0 = 0, None, time.perf_counter()
            while True:
                params = {"repositoryName": REPO, "maxResults": size}
                if token:
                    params["nextToken"] = token
                page, took = await call(c, signer, operation, params)
                lat.append(took)
                seen += len(page[key])
                token = page.get("nextToken")
                if not token:
                    break
            walls.append(time.perf_counter() - t0)
            if seen != expected:
                raise AssertionError(f"{operation} maxResults={size}: walked {seen} images, "
                                     f"expected {expected}")
    lat.sort()
    return {"pages_s": len(lat) / t.wall, "images_s": expected * walks / t.wall,
            "p50_ms": _pct(lat, 50) * 1e3, "p99_ms": _pct(lat, 99) * 1e3,
            "walk_s": sorted(walls)[len(walls) // 2], "pages": len(lat) // walks,
            "walks": walks, "client_cpu_pct": 100 * t.cpu / t.wall}


async def _batch(ctx: Ctx, signer: Signer, digests: list[str], per_call: int,
                 concurrency: int) -> dict:
    o = ctx.opts
    rng = random.Random(ctx.seed)
    start = time.perf_counter() + o.warmup
    stop = start + o.duration
    lat: list[float] = []

    async def worker() -> None:
        c = AsyncConn(ctx.host, ctx.port)
        while time.perf_counter() < stop:
            ids = [{"imageDigest": d} for d in rng.sample(digests, per_call)]
            out, took = await call(c, signer, "BatchGetImage",
                                   {"repositoryName": REPO, "imageIds": ids})
            if len(out["images"]) != per_call or out.get("failures"):
                raise AssertionError(f"BatchGetImage: {len(out['images'])} images, "
                                     f"failures {out.get('failures')}")
            if start <= time.perf_counter() <= stop:
                lat.append(took)
        await c.close()

    cpu: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    loop.call_later(o.warmup, lambda: cpu.__setitem__("a", time.process_time()))
    loop.call_later(o.warmup + o.duration, lambda: cpu.__setitem__("b", time.process_time()))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    lat.sort()
    return {"req_s": len(lat) / o.duration, "images_s": per_call * len(lat) / o.duration,
            "p50_ms": _pct(lat, 50) * 1e3, "p99_ms": _pct(lat, 99) * 1e3,
            "client_cpu_pct": 100 * (cpu["b"] - cpu["a"]) / o.duration}


async def _main(ctx: Ctx) -> dict:
    digests, out = await _setup(ctx)
    signer = Signer(ctx)
    c = AsyncConn(ctx.host, ctx.port)
    for operation, key, short in (("DescribeImages", "imageDetails", "describe"),
                                  ("ListImages", "imageIds", "list")):
        for size in PAGE_SIZES:
            r = await _walks(c, signer, operation, key, size, len(digests))
            out.update({f"{short}_{size}_{k}": v for k, v in r.items()})
    await c.close()
    for per_call, conc in BATCH:
        r = await _batch(ctx, signer, digests, per_call, conc)
        out.update({f"batch{per_call}_c{conc}_{k}": v for k, v in r.items()})
    return out


def ecr_reads(ctx: Ctx) -> dict:
    return asyncio.run(_main(ctx))
