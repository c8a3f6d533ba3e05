"""Event delivery on a real `berth serve` (its defaults: filesystem, SQLite, two workers, jobs
on), this tree beside a baseline revision in the same run, alternating which goes first:
- lag: small images pushed one at a time, --spacing apart, to a repository a webhook target
  matches; each push's lag is from its manifest PUT's answer to the arrival of its "ECR Image
  Action" PUSH event at a receiver in this process;
- idle: for --idle seconds with nothing to do (after the target was put), the job rows the
  server queued and the bytes its processes wrote (/proc/<pid>/io wchar), per minute.

    .venv/bin/python -m bench.event_lag --baseline-rev REV [--images 60] [--spacing 0.2]
        [--idle 30] [--runs 2]

Output: a Markdown table on stdout and in bench/results/<timestamp>-event-lag.md."""
from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline, httpc  # noqa: E402
from bench.httpc import AsyncConn  # noqa: E402
from bench.procmon import process_tree  # noqa: E402
from bench.report import publish  # noqa: E402
from bench.servers import Berth, free_port  # noqa: E402
from bench.workloads.push import push_small_image  # noqa: E402


class Receiver:
    """A webhook receiver: the arrival time of each PUSH event, by tag."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                detail = json.loads(body).get("detail", {})
                if detail.get("action-type") == "PUSH" and detail.get("image-tag"):
                    receiver.arrivals.setdefault(detail["image-tag"], time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _admin(server: Berth):
    from botocore.credentials import Credentials

    from berth.cli.admin_client import AdminClient

    client = AdminClient.__new__(AdminClient)
    client.url, client.region, client.timeout = server.base_url + "/admin", "us-east-1", 30.0
    client.credentials = Credentials(*server.signing_credentials())
    return client


def _written(server: Berth) -> int:
    total = 0
    for pid in process_tree(server.pids):
        try:
            with open(f"/proc/{pid}/io") as f:
                total += int(next(line for line in f if line.startswith("wchar")).split()[1])
        except (OSError, StopIteration, ValueError):
            pass
    return total


def _jobs(server: Berth) -> int:
    with sqlite3.connect(server.dir / "data" / "metadata.db") as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def idle(server: Berth, seconds: float) -> dict:
    jobs, written = _jobs(server), _written(server)
    time.sleep(seconds)
    per_minute = 60.0 / seconds
    return {"jobs_min": (_jobs(server) - jobs) * per_minute,
            "kib_min": (_written(server) - written) / 1024 * per_minute}


async def push(server: Berth, images: int, spacing: float, seed: int) -> dict[str, float]:
    conn = AsyncConn("127.0.0.1", server.port, None)
    acked = {}
    try:
        for n in range(images):
            await push_small_image(conn, "events/app", f"t{n}", seed * 1_000_000 + n, 4096,
                                   "post")
            acked[f"t{n}"] = time.time()
            await asyncio.sleep(spacing)
    finally:
        await conn.close()
    return acked


def one_run(workdir: Path, label: str, env: dict, args, seed: int) -> dict:
    server, receiver = Berth(workdir, env=env), Receiver()
    server.start()
    try:
        httpc.DEFAULT_HEADERS["Authorization"] = server.authorization()
        _admin(server).call("PutEventTarget", {"Name": "bench",
                                               "Url": f"http://127.0.0.1:{receiver.port}/"})
        quiet = idle(server, args.idle)
        acked = asyncio.run(push(server, args.images, args.spacing, seed))
        deadline = time.monotonic() + 30
        while len(receiver.arrivals) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.1)
        lags = [receiver.arrivals[t] - at for t, at in acked.items() if t in receiver.arrivals]
        return {"label": label, "lags": lags, "missing": len(acked) - len(lags), **quiet}
    finally:
        receiver.close()
        server.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def table(results: list[dict], args) -> str:
    labels = list(dict.fromkeys(r["label"] for r in results))

    def figures(label: str) -> dict:
        runs = [r for r in results if r["label"] == label]
        lags = [v for r in runs for v in r["lags"]]
        return {"p50": pct(lags, .5) * 1000, "p99": pct(lags, .99) * 1000,
                "max": max(lags) * 1000, "missing": sum(r["missing"] for r in runs),
                "jobs": sum(r["jobs_min"] for r in runs) / len(runs),
                "kib": sum(r["kib_min"] for r in runs) / len(runs)}
    found = {label: figures(label) for label in labels}
    base = found[labels[-1]]
    rows = [("push → webhook lag, p50 (ms)", "p50"), ("push → webhook lag, p99 (ms)", "p99"),
            ("push → webhook lag, max (ms)", "max"), ("events not delivered in 30 s", "missing"),
            ("idle: job rows queued per minute", "jobs"),
            ("idle: KiB written per minute (all processes)", "kib")]
    head = (f"Event delivery, {args.runs} run(s) × {args.images} pushes {args.spacing} s apart, "
            f"idle {args.idle} s; `berth serve` defaults\n\n| figure | "
            + " | ".join(labels) + " | ratio |\n|---|" + "---:|" * (len(labels) + 1) + "\n")
    lines = []
    for name, key in rows:
        values = [found[label][key] for label in labels]
        ratio = f"{values[0] / base[key]:.2f}×" if base[key] else "—"
        lines.append(f"| {name} | " + " | ".join(f"{v:,.1f}" for v in values)
                     + f" | {ratio} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-rev", required=True)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--spacing", type=float, default=0.2)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-event-lag-") as workdir:
        tree = baseline.checkout(Path(workdir), args.baseline_rev)
        setups = [("this tree", {}), (f"baseline {args.baseline_rev}", baseline.env(tree))]
        results = []
        try:
            for run in range(args.runs):
                for label, env in (setups if run % 2 == 0 else setups[::-1]):
                    results.append(one_run(Path(workdir), label, env, args, run))
        finally:
            baseline.remove(tree)
    results.sort(key=lambda r: r["label"] != "this tree")
    text = table(results, args)
    publish(text, "event-lag")
    return 0


if __name__ == "__main__":
    sys.exit(main())
