"""The gc-online setup: Berth serving pushes and manifest GETs with garbage collection idle
vs sweeping back to back, in the same run.

Both variants: the data dir is seeded with --gc-seed-blobs blobs that manifests list
(bench/gc_data.py), so that every sweep has real work; grace --gc-grace s; events delivered
every second; --log-level info (the job log counts the sweeps); a churn process pushes a
small image into bench/churn and deletes it again, --gc-churn times a second, for the whole
life of the server (garbage for the sweeps to find). The only difference: the sweep job's
interval (1 s, so sweeps follow each other; vs a day). Either variant runs one sweep at
start-up (a periodic job's first slot is due at once): the workloads start after it."""
from __future__ import annotations

import ast
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from . import httpc
from .httpc import AsyncConn
from .oci import sha256_digest
from .servers import Berth, REPO_ROOT
from .workloads.push import detect_upload_mode, push_small_image

CHURN_REPO = "bench/churn"
IDLE_INTERVAL = 24 * 3600  # the longest interval Berth accepts
_REPORT = re.compile(r"garbage collection: (\{.*\})")
_DONE = re.compile(r"job \S+ \(gc-sweep\) done")
_SKIPPED = "a sweep is running on another node"


class GcBerth(Berth):
    def __init__(self, workdir: Path, o, sweeping: bool):
        env = {"BERTH_GC_GRACE_SECONDS": str(o.gc_grace),
               "BERTH_GC_INTERVAL_SECONDS": str(1 if sweeping else IDLE_INTERVAL),
               "BERTH_EVENT_DELIVERY_SECONDS": "1", "BERTH_JOB_POLL_SECONDS": "1"}
        super().__init__(workdir, o.berth_python, o.berth_workers,
                         [*o.berth_arg, "--log-level", "info"], env)
        self.o, self.sweeping = o, sweeping
        self.churn: Churn | None = None
        self.seeded: dict = {}

    def start(self, timeout: float = 60.0) -> None:
        self.seeded = self._seed()
        super().start(timeout)
        _wait_for(lambda: _DONE.search(self.log_text()), 120, "the start-up sweep")
        self.log_mark = len(self.log_text())  # sweeps before here are not counted
        self.churn = Churn(self.port, self.authorization(), self.o.gc_churn)

    def _seed(self) -> dict:
        argv = [self.python, "-m", "bench.gc_data", "build", "--data-dir",
                str(self.dir / "data"), "--expect", str(self.dir / "seed-keys"),
                "--blobs", str(self.o.gc_seed_blobs), "--garbage", "0",
                "--blob-bytes", str(self.o.gc_blob_bytes), "--threads", "4"]
        done = subprocess.run(argv, env=self.env(), cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{done.stderr[-2000:]}")
        os.sync()
        return json.loads(done.stdout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def results(self) -> dict:
        """Stop the churn; what it did, the sweeps the log shows, what is left to collect
        (never raises: the workloads' results stand)."""
        out = {"seed_blobs": self.seeded.get("blobs", 0)}
        try:
            if self.churn is not None:
                out.update(self.churn.stop())
                self.churn = None
            out.update(sweeps(self.log_text()[self.log_mark:]))
            out.update(self._dry_run())
        except Exception as e:  # noqa: BLE001 - reported in the results
            out["gc_error"] = repr(e)
        return {"gc": out}

    def _dry_run(self) -> dict:
        """What a sweep now would free (online, as an operator asks)."""
        env = self.env() | {"AWS_SHARED_CREDENTIALS_FILE": str(self.dir / "data" /
                                                                "admin-credentials"),
                            "AWS_CONFIG_FILE": "/dev/null"}
        done = subprocess.run([self.python, "-m", "berth", "admin", "gc", "--dry-run",
                               "--endpoint-url", self.base_url, "--profile", "berth-admin"],
                              env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            return {"dry_run_error": done.stderr[-500:]}
        found = json.loads(done.stdout)
        return {"left_links": found["LinksRemoved"], "left_objects": found["ObjectsDeleted"]}

    def stop(self, keep_data: bool = False) -> None:
        if self.churn is not None:
            self.churn.stop()
            self.churn = None
        super().stop(keep_data)


def sweeps(log: str) -> dict:
    """Sweeps the job log shows: those run (jobs done, less those skipped because one was
    running), and the reports of those that freed anything."""
    reports = [ast.literal_eval(m.group(1)) for m in _REPORT.finditer(log)]
    seconds = [r["seconds"] for r in reports]
    return {"sweeps": len(_DONE.findall(log)) - log.count(_SKIPPED),
            "sweeps_freeing": len(reports),
            "swept_objects": sum(r["objects_deleted"] for r in reports),
            "swept_links": sum(r["links_unlinked"] for r in reports),
            "sweep_mean_s": statistics.mean(seconds) if seconds else None,
            "sweep_max_s": max(seconds) if seconds else None}


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout}s: {what}")
        time.sleep(0.2)


class Churn:
    """A process pushing and deleting small images at a fixed rate until stopped."""

    def __init__(self, port: int, authorization: str, rate: float):
        mp = multiprocessing.get_context("fork")
        self.stopping = mp.Event()
        self.recv, send = mp.Pipe(duplex=False)
        self.proc = mp.Process(target=_churn, args=(port, authorization, rate, self.stopping,
                                                    send), daemon=True)
        self.proc.start()
        send.close()

    def stop(self) -> dict:
        self.stopping.set()
        out = {"churn_error": "no report"}
        if self.recv.poll(30):
            out = self.recv.recv()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        return out


def _churn(port: int, authorization: str, rate: float, stopping, send) -> None:
    httpc.DEFAULT_HEADERS["Authorization"] = authorization
    try:
        send.send(asyncio.run(_churn_loop(port, rate, stopping)))
    except BaseException as e:  # reported, not raised: the parent reads the pipe
        send.send({"churn_error": repr(e)})
    finally:
        send.close()


async def _churn_loop(port: int, rate: float, stopping) -> dict:
    c = AsyncConn("127.0.0.1", port)
    mode = await detect_upload_mode(c, CHURN_REPO, "auto")
    done = failed = 0
    errors: list[str] = []
    t0 = time.monotonic()
    while not stopping.is_set():
        n = done + failed
        try:
            body = await push_small_image(c, CHURN_REPO, "churn", os.getpid() * 10**7 + n,
                                          4096, mode)
            digest = sha256_digest(body)
            r = await c.request("DELETE", f"/v2/{CHURN_REPO}/manifests/{digest}")
            r.expect(202, what="DELETE manifest")
            done += 1
        except Exception as e:  # a refused push (e.g. blob collected): counted, go on
            failed += 1
            errors.append(str(e)[:200])
            await c.close()
            c = AsyncConn("127.0.0.1", port)
        await asyncio.sleep(max(0.0, t0 + (n + 1) / rate - time.monotonic()))
    await c.close()
    took = time.monotonic() - t0
    return {"churned": done, "churn_failed": failed, "churn_errors": errors[:3],
            "churn_s": took, "churn_cpu_pct": 100 * time.process_time() / took}


def notes(runs: dict[str, list[dict]], o) -> list[str]:
    """What the variants ran with, and the issue's targets checked on the medians."""
    def med(key: str, workload: str, field: str) -> float | None:
        vals = [r[workload][field] for r in runs.get(key, [])
                if isinstance(r.get(workload, {}).get(field), (int, float))]
        return statistics.median(vals) if vals else None

    def ratio(workload: str, field: str) -> float | None:
        a, b = med("berth-gc", workload, field), med("berth-idle", workload, field)
        return a / b if a is not None and b else None

    out = [f"Both: {o.gc_seed_blobs:,} blobs listed by manifests at start, grace "
           f"{o.gc_grace:g} s, a churn client pushing and deleting {o.gc_churn:g} images/s "
           "(2 blobs each) throughout (its CPU counts as 'other processes' below). "
           "'Sweeping': BERTH_GC_INTERVAL_SECONDS=1 (a sweep starts within ~1 s of the "
           f"previous one's end); 'idle': {IDLE_INTERVAL} s. Sweeps counted from the job log "
           "after the start-up sweep; 'left to collect' = an online dry run at the end."]
    push = ratio("push_images", "images_s")
    if push is not None:
        out.append(f"Target push throughput with sweeps > 0.9× without: {push:.2f}× — "
                   + ("met" if push > 0.9 else "**missed**") + ".")
    for c in o.concurrency:
        for m in ("get", "head"):
            p99 = ratio("manifests", f"{m}_c{c}_p99_ms")
            rps = ratio("manifests", f"{m}_c{c}_req_s")
            if p99 is not None and rps is not None:
                out.append(f"Manifest {m.upper()} c{c}: req/s {rps:.2f}×, p99 {p99:.2f}× "
                           "(target p99 < 2×: " + ("met" if p99 < 2 else "**missed**") + ").")
    return out
