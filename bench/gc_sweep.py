"""The gc-sweep setup: time and peak RSS of one offline `berth admin gc` over N blobs of which
half are garbage, on files (SQLite) and on S3 (Ceph radosgw; SQLite, as the s3 setups, or
PostgreSQL), for several N: the RSS should stay flat as N grows.

Per (storage, N): bench/gc_data.py builds the data set in a fresh data dir / bucket /
database (every other image deleted, the gc subscriber's events delivered); `sync`; then
`berth admin gc` with BERTH_GC_GRACE_SECONDS=0 (the deleted images' blobs are eligible) runs
as its own process: wall time, the sweep's own Seconds, CPU and peak RSS (the kernel's
ru_maxrss of that process, from wait4). bench/gc_data.py check then walks the storage: the
stored keys must be exactly the kept half. A second sweep (nothing left to free) shows what a
steady-state sweep over N/2 blobs costs.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .servers import DEFAULT_BERTH_PYTHON, REPO_ROOT

MIB = 1 << 20
RSS_TARGET_MIB = 150
STORAGES = {"files": "files + SQLite", "s3": "S3 (radosgw) + SQLite",
            "s3-pg": "S3 (radosgw) + PostgreSQL"}


@dataclass
class Target:
    """A deployment's data: the settings flags and environment that point Berth at it."""
    flags: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cleanup: Callable[[], None] = lambda: None


def target(storage: str, backends, data_dir: Path) -> Target:
    flags = ["--data-dir", str(data_dir)]
    if storage == "files":
        return Target(flags)
    s3 = backends.s3
    bucket = s3.new_bucket()
    flags += s3.berth_args(bucket)
    if storage == "s3-pg":
        flags += ["--database", backends.pg.new_database()]
    return Target(flags, s3.env(), lambda: s3.drop_bucket(bucket))


def needs(storages: list[str]) -> set[str]:
    return ({"s3"} if any(s.startswith("s3") for s in storages) else set()) | (
        {"postgres"} if "s3-pg" in storages else set())


class Cell:
    """One (storage, N) measurement in its own temp dir."""

    def __init__(self, o, backends, storage: str, blobs: int, seed: int):
        self.o, self.storage, self.blobs, self.seed = o, storage, blobs, seed
        self.dir = Path(tempfile.mkdtemp(prefix=f"gc-{storage}-{blobs}-", dir=backends.workdir))
        self.expect = self.dir / "expected-keys"
        self.target = target(storage, backends, self.dir / "data")
        self.python = o.berth_python or (str(DEFAULT_BERTH_PYTHON)
                                         if DEFAULT_BERTH_PYTHON.exists() else sys.executable)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        return env | self.target.env | extra

    def data(self, command: str, *args: str) -> dict:
        argv = [self.python, "-m", "bench.gc_data", command, *self.target.flags,
                "--expect", str(self.expect), *args]
        done = subprocess.run(argv, env=self.env(), cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=self.o.timeout)
        if done.returncode != 0:
            raise RuntimeError(f"gc_data {command} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def sweep(self) -> dict:
        """`berth admin gc` as its own process: its report, wall time, CPU, peak RSS."""
        argv = [self.python, "-m", "berth", "admin", "gc", *self.target.flags]
        out, err = self.dir / "sweep.out", self.dir / "sweep.err"
        with open(out, "w") as fh, open(err, "w") as eh:
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, env=self.env(BERTH_GC_GRACE_SECONDS="0"),
                                    cwd=REPO_ROOT, stdout=fh, stderr=eh)
            watchdog = threading.Timer(self.o.timeout, proc.kill)
            watchdog.start()
            _, status, usage = os.wait4(proc.pid, 0)  # its own rusage: ru_maxrss
            watchdog.cancel()
            wall = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"berth admin gc failed ({os.waitstatus_to_exitcode(status)}): "
                               f"{err.read_text()[-2000:]}")
        report = json.loads(out.read_text())
        return {"wall_s": wall, "sweep_s": report["Seconds"], "rss_peak": usage.ru_maxrss * 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime, "links": report["LinksRemoved"],
                "objects": report["ObjectsDeleted"], "bytes": report["BytesFreed"],
                "orphans": report["OrphansFound"]}

    def run(self) -> dict:
        o = self.o
        built = self.data("build", "--blobs", str(self.blobs), "--seed", str(self.seed),
                          "--blob-bytes", str(o.gc_blob_bytes),
                          "--threads", str(32 if self.storage.startswith("s3") else 4))
        os.sync()  # the build's writeback must not land in the sweep's fsyncs
        first = self.sweep()
        checked = self.data("check")
        second = self.sweep()
        return {"build": built, "first": first, "check": checked, "second": second}

    def close(self) -> None:
        try:
            self.target.cleanup()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def measure(backends, o, run: int) -> dict:
    """{"<storage>/<N>": cell results} for one run."""
    out = {}
    backends.start(needs(o.gc_storages))  # idempotent: started once per invocation
    for storage in o.gc_storages:
        for n in sizes(o, storage):
            key = f"{storage}/{n}"
            print(f"run {run + 1} [gc-sweep] {STORAGES[storage]}, {n:,} blobs", file=sys.stderr)
            cell = None
            try:
                cell = Cell(o, backends, storage, n, run * 1000 + n)
                out[key] = res = cell.run()
                print("    " + brief(res), file=sys.stderr)
            except Exception as e:  # recorded, the other cells go on
                out[key] = {"error": str(e)}
                print(f"    ERROR: {e}", file=sys.stderr)
            finally:
                if cell is not None:
                    cell.close()
    return out


def brief(r: dict) -> str:
    f, c, s = r["first"], r["check"], r["second"]
    return (f"build {r['build']['build_seconds']:.0f}s; sweep {f['wall_s']:.1f}s "
            f"(deleted {f['objects']:,}), peak RSS {f['rss_peak'] / MIB:.0f} MiB; stored after "
            f"{c['stored']:,} (missing {c['missing']}, unexpected {c['unexpected']}); "
            f"second sweep {s['wall_s']:.1f}s, {s['rss_peak'] / MIB:.0f} MiB")


# -- options, runs and the table (bench/run.py calls these for a setup with `custom`) ------
def add_arguments(p) -> None:
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    g = p.add_argument_group("gc setups (gc-online, gc-sweep)")
    g.add_argument("--gc-storages", default="files,s3",
                   type=lambda s: [x for x in s.split(",") if x],
                   help="gc-sweep storages, comma list of: " + ", ".join(STORAGES))
    g.add_argument("--gc-blobs", type=ints, default=[10_000, 100_000],
                   help="gc-sweep: blobs in the data set on files, half garbage")
    g.add_argument("--gc-s3-blobs", type=ints, default=[10_000, 100_000],
                   help="gc-sweep: the same on S3 (about 600 PUTs/s to build, and the sweep "
                        "deletes ~250 objects/s there)")
    g.add_argument("--gc-blob-bytes", type=int, default=512)
    g.add_argument("--gc-sweep-runs", type=int, default=1,
                   help="gc-sweep: runs (of --runs) that measure the sweeps")
    g.add_argument("--gc-seed-blobs", type=int, default=20_000,
                   help="gc-online: blobs (all listed) each server starts with")
    g.add_argument("--gc-images", type=int, default=2000,
                   help="gc-online: small images pushed (long enough for several sweeps)")
    g.add_argument("--gc-churn", type=float, default=20,
                   help="gc-online: images pushed and deleted again per second")
    g.add_argument("--gc-grace", type=float, default=5, help="gc-online: grace period, s")


def check_options(o) -> str | None:
    unknown = set(o.gc_storages) - set(STORAGES)
    return f"unknown --gc-storages: {sorted(unknown)}" if unknown else None


def runs(o) -> int:
    return min(o.runs, o.gc_sweep_runs)


def sizes(o, storage: str) -> list[int]:
    return o.gc_blobs if storage == "files" else o.gc_s3_blobs


ROWS = (  # label, value of one cell's results, format
    ("build (s)", lambda r: r["build"]["build_seconds"], "{:,.0f}"),
    ("sweep, process wall time (s)", lambda r: r["first"]["wall_s"], "{:,.1f}"),
    ("sweep, its own Seconds", lambda r: r["first"]["sweep_s"], "{:,.1f}"),
    ("sweep time per 1,000 blobs (ms; flat if it scales linearly)",
     lambda r: 1e6 * r["first"]["sweep_s"] / r["build"]["blobs"], "{:,.0f}"),
    ("sweep CPU (s)", lambda r: r["first"]["cpu_s"], "{:,.1f}"),
    ("sweep peak RSS (MiB)", lambda r: r["first"]["rss_peak"] / MIB, "{:,.1f}"),
    ("objects deleted", lambda r: r["first"]["objects"], "{:,.0f}"),
    ("objects deleted per second", lambda r: r["first"]["objects"] / r["first"]["sweep_s"],
     "{:,.0f}"),
    ("stored after / kept", lambda r: f"{r['check']['stored']:,} / {r['build']['kept']:,}",
     "{}"),
    ("check: kept keys missing, other keys left",
     lambda r: f"{r['check']['missing']}, {r['check']['unexpected']}", "{}"),
    ("second sweep (nothing to free), wall (s)", lambda r: r["second"]["wall_s"], "{:,.1f}"),
    ("second sweep peak RSS (MiB)", lambda r: r["second"]["rss_peak"] / MIB, "{:,.1f}"),
)


def _median_cell(results: list[dict], value, fmt: str) -> str:
    ok = [r for r in results if "error" not in r]
    if not ok:
        return "error" if results else "—"
    vals = [value(r) for r in ok]
    if isinstance(vals[0], str):
        return " · ".join(sorted(set(vals)))
    return fmt.format(statistics.median(vals))


def markdown(runs_: dict[str, list[dict]], o) -> str:
    per_cell = {}
    for run in runs_.get("sweeps", []):
        for key, res in run.items():
            per_cell.setdefault(key, []).append(res)
    keys = list(per_cell)
    head = [f"{STORAGES[k.split('/')[0]]}, {int(k.split('/')[1]):,} blobs" for k in keys]
    out = ["### Garbage collection: one offline sweep over N blobs, half garbage", "",
           "| metric | " + " | ".join(head) + " |", "|---|" + "---:|" * len(keys)]
    for label, value, fmt in ROWS:
        out.append(f"| {label} | " + " | ".join(_median_cell(per_cell[k], value, fmt)
                                                 for k in keys) + " |")
    return "\n".join(out + [""] + [f"- {n}" for n in notes(per_cell, o)]) + "\n"


def notes(per_cell: dict[str, list[dict]], o) -> list[str]:
    out = [f"Medians over {runs(o)} run(s). Blobs of {o.gc_blob_bytes} B in 10 repositories, "
           "100 per image; every other image deleted and the gc subscriber's events delivered "
           "before the sweep (bench/gc_data.py). The sweep: `berth admin gc` offline, "
           "BERTH_GC_GRACE_SECONDS=0, as its own process; peak RSS = its ru_maxrss.",
           "Check: after the sweep the storage is walked; 'kept keys missing' must be 0 and "
           "'other keys left' 0 (every garbage object gone, every kept one there)."]
    for storage in dict.fromkeys(k.split("/")[0] for k in per_cell):
        peaks = {int(k.split("/")[1]): [r["first"]["rss_peak"] for r in rs if "first" in r]
                 for k, rs in per_cell.items() if k.startswith(storage + "/")}
        peaks = {n: statistics.median(v) for n, v in peaks.items() if v}
        if peaks:
            at = ", ".join(f"{peaks[n] / MIB:.0f} MiB at {n:,} blobs" for n in sorted(peaks))
            met = max(peaks.values()) < RSS_TARGET_MIB * 1e6
            out.append(f"{STORAGES[storage]}: sweep peak RSS {at}; target < {RSS_TARGET_MIB} "
                       "MB: " + ("met" if met else "**missed**") + ".")
    errors = [f"{k}: {r['error'][:300]}" for k, rs in per_cell.items() for r in rs
              if "error" in r]
    return out + [f"**Error** {e}" for e in errors]
