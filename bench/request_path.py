"""What observability costs a request, in CPU, without the network: the app is called
directly (ASGI) for cached manifest GETs, one app per variant (access log, metrics and the
audit trail on or off), all in this one process, in alternating rounds, each round's requests
timed with thread_time: the event loop's thread, where a cached GET does all its work. The
audit trail's batched writes run on a thread of their own: their cost per event is measured
apart, flushing as many events as one round makes. A loopback load test's CPU per request
varies ±15 % run to run on this kind of machine; this varies a few %, so microseconds show.

    .venv/bin/python -m bench.request_path [--requests 3000] [--rounds 15]

Metrics run in multi-process mode (as under ``berth serve``), the log at info into
/dev/null through Berth's own handler."""
from __future__ import annotations

import argparse
import asyncio
import base64
import configparser
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.app import create_app  # noqa: E402
from berth.audit.recorder import AuditRecorder  # noqa: E402
from berth.config import Settings  # noqa: E402
from berth.observability import RequestRecord, logs, prometheus  # noqa: E402
from berth.storage.metadata import migrate  # noqa: E402
from berth.storage.metadata.database import Database  # noqa: E402
from tests.support.registry_images import push_image  # noqa: E402

# (access log, metrics, audit trail): the defaults, each one off, and all off.
VARIANTS = {"on": (True, True, True), "no access log": (False, True, True),
            "no metrics": (True, False, True), "no audit": (True, True, False),
            "all off": (False, False, False)}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Variant:
    def __init__(self, name: str, data_dir: Path, access_log: bool, metrics: bool,
                 audit: bool):
        self.name = name
        self.app = create_app(Settings(data_dir=data_dir, access_log=access_log,
                                       metrics=metrics, audit=audit), run_jobs=False)
        self.samples: list[float] = []

    async def start(self) -> None:
        """The app's lifespan startup; ``stop`` sends its shutdown."""
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._inbox.put_nowait({"type": "lifespan.startup"})
        self._task = asyncio.ensure_future(self.app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            self._inbox.get, self._outbox.put))
        await self._outbox.get()

    async def stop(self) -> None:
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        await self._outbox.get()
        await self._task


def _token(variant: Variant, data_dir: Path) -> str:
    parser = configparser.ConfigParser()
    parser.read(data_dir / "admin-credentials")
    profile = parser.sections()[0]
    iam = variant.app.app.state.iam
    return iam.tokens.mint(parser[profile]["aws_access_key_id"])[0]


def _scope(token: str) -> dict:
    auth = base64.b64encode(f"AWS:{token}".encode())
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": "/v2/bench/app/manifests/v1",
            "raw_path": b"/v2/bench/app/manifests/v1", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5000),
            "headers": [(b"host", b"127.0.0.1:5000"), (b"authorization", b"Basic " + auth),
                        (b"accept", MANIFEST.encode())]}


async def _requests(variant: Variant, scope: dict, count: int) -> float:
    status = []
    state = {"asked": False, "done": asyncio.Event()}

    async def receive():
        if not state["asked"]:  # the body once; then the client goes once answered
            state["asked"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await state["done"].wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            state["done"].set()

    started = time.thread_time()
    for _ in range(count):
        state["asked"] = False
        state["done"] = asyncio.Event()
        await variant.app(dict(scope), receive, send)
    spent = time.thread_time() - started
    if set(status) != {200}:
        raise RuntimeError(f"{variant.name}: statuses {sorted(set(status))}")
    return spent / count * 1e6


async def _run(args, variants: list[Variant], token: str) -> None:
    for v in variants:
        await v.start()
    scope = _scope(token)
    for v in variants:  # warm every cache once
        await _requests(v, scope, 200)
    for round_ in range(args.rounds):
        order = variants[round_ % len(variants):] + variants[:round_ % len(variants)]
        for v in order:
            v.samples.append(await _requests(v, scope, args.requests))
    for v in variants:
        await v.stop()


def _flush_cost(data_dir: Path, count: int) -> tuple[float, float]:
    """CPU per audit event: observing ``count`` request records, then writing them."""
    recorder = AuditRecorder()
    record = RequestRecord("oci", "/v2/{name:path}/manifests/{reference}", "GET", 200, 0, 500,
                           0.001, "r", "127.0.0.1", "arn:aws:iam::123456789012:root",
                           "123456789012", "us-east-1", "bench/app", "docker/27")
    db = Database(Settings(data_dir=data_dir).database_url)
    observed, flushed = [], []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(count):
            recorder.observe(record)
        observed.append((time.thread_time() - started) / count * 1e6)
        started = time.thread_time()
        recorder.flush(db)
        flushed.append((time.thread_time() - started) / count * 1e6)
    return statistics.median(observed), statistics.median(flushed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=3000, help="requests per round and variant")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="berth-request-path-"))
    data_dir = work / "data"
    data_dir.mkdir()
    # Before anything makes a metric (a Database does), as berth serve does.
    metrics_dir = prometheus.prepare_directory(work / "scratch")
    migrate.upgrade(Database(Settings(data_dir=data_dir).database_url))
    logs.install("info")
    for h in logs.logging.getLogger().handlers:
        if getattr(h, "berth", False):
            h.setStream(open(os.devnull, "w"))
    variants = [Variant(name, data_dir, *flags) for name, flags in VARIANTS.items()]
    push_image(variants[0].app.app.state.registry, "bench/app", "v1")
    asyncio.run(_run(args, variants, _token(variants[0], data_dir)))
    base = statistics.median(variants[-1].samples)
    print(f"CPU per cached manifest GET, in-process, median of {args.rounds} rounds of "
          f"{args.requests} (µs; ratio to 'all off'):")
    for v in variants:
        median = statistics.median(v.samples)
        spread = (max(v.samples) - min(v.samples)) / median * 100
        print(f"  {v.name:14s} {median:7.1f} µs  {median / base:5.2f}×  (spread {spread:.0f} %)")
    observe, flush = _flush_cost(data_dir, args.requests)
    print(f"  audit event    {observe:7.1f} µs on the loop (observed), {flush:.1f} µs on the "
          "flusher's thread (written)")
    prometheus.remove_directory(metrics_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
