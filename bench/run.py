"""Berth vs CNCF Distribution benchmark -- both registries in one run, alternating.

Usage (from the repository root; the harness itself needs only the standard library, but the
venv python gives the GET/HEAD load generator uvloop):

    .venv/bin/python bench/run.py                      # full run: both servers, 3 runs each
    .venv/bin/python bench/run.py --quick              # smoke run, small sizes, 1 run (< 1 min)
    .venv/bin/python bench/run.py --only distribution  # reference registry only
    .venv/bin/python bench/run.py --runs 5 --blob-mib 1024 --big-blob-gib 4
    .venv/bin/python bench/run.py --workloads manifests,tags --berth-workers 2
    .venv/bin/python bench/run.py --setups s3,encryption,nodes   # issue 5's tables
    .venv/bin/python bench/run.py --setups all                   # every table below
    .venv/bin/python bench/run.py --setups gc --gc-s3-blobs 10000,50000   # GC, ~13 min
    .venv/bin/python bench/run.py --setups tls --runs 2 --blob-mib 1024     # HTTPS, ~3.5 min
    make bench BENCH_ARGS="--quick"

Each run starts every server fresh (own data dir under --workdir, same disk), measures all
selected workloads against it, and stops it; the server order alternates between runs
(Berth first on even runs, Distribution first on odd ones). Reported values are medians over
--runs. Workloads, each driven from a separate child process while the parent samples the
server's process-tree RSS from /proc every 50 ms:

  push_monolithic  POST, then one PUT ?digest= with the whole --blob-mib blob   -> MiB/s
  push_chunked     POST, PATCH (Content-Range) per --chunk-mib, PUT ?digest=    -> MiB/s
  pull             GET of the monolithic blob, discarded in 1 MiB reads        -> MiB/s
  push_images      --images small images at --image-concurrency (unique ~4 KiB layer + config
                   blob, monolithic POST ?digest= or POST+PUT if the server answers 202; then an
                   OCI manifest PUT)                                           -> images/s
  manifests        GET and HEAD of a manifest by tag, closed loop on keep-alive connections,
                   --duration s per (method, --concurrency) cell after --warmup -> req/s, p50/p99
  tags             one manifest PUT under --tags tags at --tag-concurrency, then
                   GET tags/list?n=--page-size following Link: rel="next"      -> tags/s, list s
  push_big         monolithic push of a --big-blob-gib blob: peak RSS should stay flat as the
                   blob grows (compare with the peak during push_monolithic)
  ecr              Berth only: --ecr-images tagged manifests in one repository, then SigV4-signed
                   DescribeImages/ListImages walks (maxResults 100, 1000) and BatchGetImage
                   (1 and 10 ids, c1 and c16)            -> pages/s, p50/p99 per page, req/s

Setups (--setups, comma list; default fs): each is one table of server variants measured
side by side, every variant started fresh per run, their order alternating between runs.

  fs           Berth vs Distribution on the local filesystem, every selected workload
  s3-redirect  push_monolithic, push_chunked, pull through S3: a throwaway Ceph radosgw
               (tests/support/ceph.py; Debian's ceph-mon, ceph-osd, radosgw) started once,
               a fresh bucket per server start. Berth: --storage s3://<bucket>/berth
               --storage-encrypted; Distribution: its s3 driver. Pulls are answered with a
               307 to a presigned gateway URL; the client follows it (without the registry
               token) and the pull time includes both hops
  s3-proxied   the same with pulls streamed by the registry (Berth --storage-redirect off,
               Distribution storage.redirect.disable), plus Berth with its defaults on S3
               (sealing AES256 repositories itself, so never redirecting)
  encryption   push_monolithic, push_chunked, pull on the filesystem: Berth sealing (its
               default) vs Berth --storage-encrypted (stored plain) vs Distribution; after
               the pushes the data dirs are searched for the blob in plaintext
  nodes        manifests at --node-concurrency (16,64) with one Berth node and with two
               nodes on one PostgreSQL database (tests/support/postgres.py, a database per
               start; shared blob dir and BERTH_MASTER_KEY), connections round-robin over
               the nodes; Distribution on the filesystem as reference
  gc-online    push_images and manifests with Berth's garbage collection idle vs sweeping
               back to back, a client pushing and deleting images throughout (gc_online.py)
  gc-sweep     one offline `berth admin gc` over N blobs, half garbage, on files and S3:
               time, peak RSS, and a check of what is left (gc_sweep.py; --gc-* options)
  baseline     Berth from this tree vs Berth at --baseline-rev (a git worktree of that
               revision, same venv), Distribution as reference: a change's before and after
  tls          push_monolithic, pull, push_images, manifests (at --tls-concurrency, 1,16)
               over HTTPS and plain HTTP: Berth with its defaults vs Berth --tls-cert/--tls-key,
               Distribution with http.tls vs plain; a test CA and an ECDSA server certificate
               for IP 127.0.0.1 made by the harness (cryptography) under the workdir. The
               clients (httpc, loadgen) speak TLS when the server's base URL is https://,
               trusting only that CA; one handshake per connection, keep-alive as over HTTP.
               Ratios: Berth HTTPS / Berth HTTP, Berth HTTPS / Distribution HTTPS,
               Distribution HTTPS / HTTP (bench/tls.py)
  s3 = s3-redirect,s3-proxied; gc = gc-online,gc-sweep; all = every setup. --workloads
  narrows every setup (not gc-sweep).
CPU of the storage/database daemons (Ceph, PostgreSQL) is reported apart from the server's.

Blob data is generated on the fly (1 MiB buffer, unique per run); its digest is computed
before the timed section. The client's own cost is reported too: "client ceiling" is GET
requests per client CPU-second at the highest concurrency, i.e. what the load generator could
sustain on one full core; if client CPU is near 100% of a core, GET/HEAD numbers are
client-bound. Use --client-cpu to pin the load generator to one CPU.

Timing on the 2-CPU dev VM: a full run (defaults) takes ~16 min, --quick ~25 s;
--quick --setups s3,encryption,nodes ~1.5 min (Ceph starts in ~15 s).
Before the runs the load generator is measured alone against a canned-response server
(--no-selftest skips it): ~55k GET req/s on one core with uvloop (~17k with plain asyncio),
far above either registry here. The notes under the table also say how much CPU other
processes used during the workloads, and warn if the Berth sources changed between runs.

Output: Markdown tables (one per setup) on stdout and in bench/results/<timestamp>.md, raw numbers of every
run in bench/results/<timestamp>.json. Set BENCH_KEEP_FAILED=1 to keep the data dir and
server.log of a server whose run raised.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import gc_sweep, httpc, loadgen, report, setups, tls  # noqa: E402
from bench.at_rest import plaintext_copies  # noqa: E402
from bench.oci import MIB  # noqa: E402
from bench.procmon import (RssSampler, current_pss, current_rss, system_cpu_seconds,  # noqa: E402
                           tree_cpu_seconds)
from bench.servers import DISTRIBUTION_BIN, Server  # noqa: E402
from bench.setup_notes import setup_notes  # noqa: E402
from bench.workloads import Ctx, blobs, ecr, images, manifests, tags  # noqa: E402

WORKLOADS = {
    "push_monolithic": blobs.push_monolithic,
    "push_chunked": blobs.push_chunked,
    "pull": blobs.pull,
    "push_images": images.push_images,
    "manifests": manifests.get_head,
    "tags": tags.push_and_list_tags,
    "push_big": blobs.push_big,
    "ecr": ecr.ecr_reads,
}
BERTH_ONLY = {"ecr"}  # Distribution has no ECR API
QUICK = dict(runs=1, blob_mib=32, big_blob_gib=0.125, images=50, tags=300, duration=0.3,
             warmup=0.1, ecr_images=1000)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 run")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", choices=["berth", "distribution"])
    p.add_argument("--setups", default="fs",
                   help="comma list of: " + ", ".join([*setups.SETUPS, *setups.ALIASES]))
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma list of: " + ", ".join(WORKLOADS))
    p.add_argument("--blob-mib", type=int, default=512)
    p.add_argument("--chunk-mib", type=int, default=8)
    p.add_argument("--big-blob-gib", type=float, default=2.0, help="0 skips push_big")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--image-concurrency", type=int, default=16)
    p.add_argument("--layer-kib", type=int, default=4)
    p.add_argument("--upload-mode", choices=["auto", "post", "post-put"], default="auto",
                   help="small-blob upload: POST ?digest= with body, or POST then PUT")
    p.add_argument("--concurrency", type=ints, default=[1, 16, 64])
    p.add_argument("--node-concurrency", type=ints, default=[16, 64],
                   help="GET/HEAD concurrencies of the nodes setup")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per GET/HEAD cell")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--tags", type=int, default=10_000)
    p.add_argument("--tag-concurrency", type=int, default=16)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--ecr-images", type=int, default=10_000,
                   help="images in the repository the ecr workload reads")
    p.add_argument("--berth-workers", type=int, help="pass --workers N to berth serve")
    p.add_argument("--baseline-rev", default="HEAD",
                   help="git revision the baseline setup compares this tree with")
    p.add_argument("--berth-python", help="python to run berth with (default .venv/bin/python)")
    p.add_argument("--berth-arg", action="append", default=[], help="extra berth serve arg")
    p.add_argument("--client-cpu", type=int, help="pin the load-generating child to this CPU")
    p.add_argument("--workdir", help="parent dir for server data (default: a new temp dir)")
    p.add_argument("--results-dir", default=str(RESULTS_DIR))
    p.add_argument("--timeout", type=float, default=1800, help="per-workload timeout, s")
    p.add_argument("--no-selftest", action="store_true",
                   help="skip measuring the load generator against a canned-response server")
    gc_sweep.add_arguments(p)
    tls.add_arguments(p)
    pre, _ = p.parse_known_args(argv)
    if pre.quick:
        p.set_defaults(**QUICK)
    o = p.parse_args(argv)
    o.workloads = [w.strip() for w in o.workloads.split(",") if w.strip()]
    unknown = set(o.workloads) - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads: {sorted(unknown)}")
    if "pull" in o.workloads and "push_monolithic" not in o.workloads:
        o.workloads.insert(0, "push_monolithic")  # pull reads the blob it pushed
    if o.big_blob_gib <= 0 and "push_big" in o.workloads:
        o.workloads.remove("push_big")
    o.workloads = [w for w in WORKLOADS if w in o.workloads]
    try:
        chosen = setups.select([x.strip() for x in o.setups.split(",") if x.strip()])
    except ValueError as e:
        p.error(str(e))
    o.setups = [st for st in chosen if st.selected_workloads(o)]
    if wrong := gc_sweep.check_options(o):
        p.error(wrong)
    if not o.setups:
        p.error("none of the selected setups runs any of the selected workloads")
    return o


def _child(fn, ctx: Ctx, conn) -> None:
    try:
        if ctx.opts.client_cpu is not None:  # pin only the load generator, never the parent
            os.sched_setaffinity(0, {ctx.opts.client_cpu})
        if ctx.authorization:
            httpc.DEFAULT_HEADERS["Authorization"] = ctx.authorization
        httpc.configure(ctx.base_url, ctx.ca_file)  # HTTPS for a server at https://
        res = fn(ctx)
        res["client_total_cpu_s"] = time.process_time()  # incl. untimed setup and digesting
        conn.send(("ok", res))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_workload(name: str, server: Server, ctx: Ctx, timeout: float) -> dict:
    """Runs WORKLOADS[name] in a child process while sampling the server's RSS and CPU."""
    mp = multiprocessing.get_context("fork")
    recv, send = mp.Pipe(duplex=False)
    pids, backend = server.pids, server.backend_pids
    cpu0, (busy0, steal0), t0 = tree_cpu_seconds(pids), system_cpu_seconds(), time.monotonic()
    backend0 = tree_cpu_seconds(backend) if backend else 0.0
    child = mp.Process(target=_child, args=(WORKLOADS[name], ctx, send), daemon=True)
    child.start()
    send.close()
    with RssSampler(pids) as rss:
        status, payload = ("error", f"timed out after {timeout}s")
        if recv.poll(timeout):
            try:
                status, payload = recv.recv()
            except EOFError:
                status, payload = "error", f"child exited with {child.exitcode}"
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
    if status != "ok":
        return {"error": payload}
    busy1, steal1 = system_cpu_seconds()
    server_cpu = tree_cpu_seconds(pids) - cpu0
    capacity = (time.monotonic() - t0) * len(os.sched_getaffinity(0))
    if backend:  # the storage/database daemons the server uses: theirs, not noise
        payload["backend_cpu_s"] = tree_cpu_seconds(backend) - backend0
    # CPU used by anything but this server, its daemons and this client: noise from other
    # work on the box.
    other = (busy1 - busy0 - server_cpu - payload["client_total_cpu_s"]
             - payload.get("backend_cpu_s", 0.0))
    payload.update(rss_peak=rss.peak, rss_peak_process=rss.peak_process, pss_peak=rss.peak_pss,
                   rss_samples=rss.samples, server_cpu_s=server_cpu,
                   other_cpu_pct=max(0.0, 100 * other / capacity),
                   steal_pct=100 * (steal1 - steal0) / capacity)
    return payload


def run_server(server: Server, o: argparse.Namespace, seed: int, workloads: list[str],
               kind: str = "berth", check_at_rest: bool = False) -> dict:
    out: dict = {}
    try:
        code = server.code_fingerprint()
        server.start()
        time.sleep(0.5)
        out["idle"] = {"rss": current_rss(server.pids), "pss": current_pss(server.pids),
                       "code": code}
        ports = server.ports
        ctx = Ctx("127.0.0.1", server.port, seed, o, server.authorization(),
                  server.signing_credentials(), ports if len(ports) > 1 else (),
                  tuple(server.pids), tuple(server.backend_pids), server.base_url,
                  server.ca_file)
        for name in workloads:
            if name in BERTH_ONLY and kind != "berth":
                continue  # reported as n/a
            gone = server.exited()
            if gone:
                out[name] = {"error": gone}
                continue
            t0 = time.monotonic()
            res = run_workload(name, server, ctx, o.timeout)
            out[name] = res
            took = time.monotonic() - t0
            if "error" in res:
                print(f"    {name:16s} ERROR ({took:.1f}s):\n"
                      + "\n".join("      " + ln for ln in res["error"].strip().splitlines()[-6:]),
                      file=sys.stderr)
            else:
                print(f"    {name:16s} {took:6.1f}s  {_brief(name, res)}", file=sys.stderr)
        if hasattr(server, "results"):  # what a server variant observed itself (gc-online)
            out.update(server.results())
        if check_at_rest and "mib_s" in out.get("push_monolithic", {}):
            out["at_rest"] = plaintext_copies(server.data_dirs(), o.blob_mib * MIB,
                                              seed * 10 + 1)  # push_monolithic's blob
            print(f"    at rest: {out['at_rest']}", file=sys.stderr)
    finally:
        failed = any("error" in v for v in out.values()) or "idle" not in out
        if failed and server.proc is not None and server.exited():
            print(f"    server log tail:\n{server.log_tail(15)}", file=sys.stderr)
        server.stop(keep_data=failed and os.environ.get("BENCH_KEEP_FAILED") == "1")
    return out


def _brief(name: str, r: dict) -> str:
    rss = f"peak RSS {r['rss_peak'] / 2**20:.0f} MiB"
    if "mib_s" in r:
        via = f" (via 307 to {r['redirect_to']})" if r.get("redirected") else ""
        return f"{r['mib_s']:.0f} MiB/s{via}, {rss}"
    if "images_s" in r:
        return f"{r['images_s']:.0f} images/s ({r['upload_mode']}), {rss}"
    if "tags_s" in r:
        return f"{r['tags_s']:.0f} tags/s, list {r['list_seconds']:.3f}s/{r['list_pages']} pages, whole list {r['full_list_ms']:.1f} ms, {rss}"
    cells = [k[:-6] for k in r if k.endswith("_req_s") and "ceiling" not in k]
    return ", ".join(f"{c} {r[c + '_req_s']:.0f}/s" for c in cells) + f", {rss}"


def _finite(x):
    """NaN/inf -> None so the JSON is strict."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def versions() -> dict:
    def cmd(*a: str) -> str:
        try:
            return subprocess.run(a, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError as e:
            return f"unavailable: {e}"
    return {
        "distribution": cmd(DISTRIBUTION_BIN, "--version"),
        "berth_git": cmd("git", "-C", str(Path(__file__).resolve().parent.parent),
                         "describe", "--always", "--dirty"),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadgen_loop": "uvloop" if loadgen.uvloop is not None else "asyncio",
    }


def notes(o: argparse.Namespace, flat: dict[str, list[dict]], meta: dict) -> list[str]:
    """Notes on method and conditions, for all tables; `flat` = runs per server variant."""
    n = [f"Medians over {o.runs} run(s) per server, fresh server per run, order alternating "
         "within each table. A ratio column is the first named server's median over the "
         "second's.",
         "RSS = sum of resident set sizes over the server's process tree, sampled every 50 ms "
         "(pages shared between forked workers are counted once per process); 'the largest "
         "process' = the peak of any one process of it (Berth: a worker or its supervisor). "
         "PSS = the sum of proportional set sizes (a page shared by n processes counts 1/n in "
         "each: the memory the tree really holds), sampled every ~1 s.",
         f"GET/HEAD: closed loop, {o.duration:g} s per cell after {o.warmup:g} s warm-up, "
         "keep-alive, one load-generator process; see the client-ceiling rows. Server CPU "
         "per request: the server's process-tree CPU time in the measured window."]
    st = meta.get("client_selftest")
    if st:
        n.append(f"Load generator alone ({meta['loadgen_loop']}, GET c{max(o.concurrency)} against a "
                 f"canned-response server on the other CPU): {st['req_s']:,.0f} req/s using "
                 f"{st['client_cpu_pct']:.0f}% of one core, i.e. ~{st['client_ceiling_req_s']:,.0f} "
                 f"req/s per client CPU-second.")
    other = [w["other_cpu_pct"] for rs in flat.values() for r in rs for w in r.values()
             if "other_cpu_pct" in w]
    steal = [w["steal_pct"] for rs in flat.values() for r in rs for w in r.values()
             if "steal_pct" in w]
    if other:
        n.append(f"Other processes (not the server under test, not the storage/database "
                 f"daemons it uses, not the client) used "
                 f"{statistics.mean(other):.0f}% of the machine's CPU on average during workloads "
                 f"(max {max(other):.0f}%); hypervisor steal averaged "
                 f"{statistics.mean(steal):.0f}%. Load average before/after: "
                 f"{meta['loadavg_before'][0]:.2f}/{meta['loadavg_after'][0]:.2f}.")
        if max(other) > 10:
            n.append("**Warning: the machine was not idle; numbers are noisy. Re-run on a quiet "
                     "machine for figures to quote.**")
    for s, rs in flat.items():
        modes = {r.get("push_images", {}).get("upload_mode") for r in rs} - {None}
        pages = {r.get("tags", {}).get("list_pages") for r in rs} - {None}
        bits = []
        if modes:
            bits.append(f"small-blob upload mode {'/'.join(sorted(modes))}")
        if pages:
            bits.append(f"tag listing took {'/'.join(str(p) for p in sorted(pages))} page(s)")
        if bits:
            n.append(f"{s}: " + ", ".join(bits) + ".")
        codes = [r.get("idle", {}).get("code") for r in rs]
        if len(set(codes) - {None, ""}) > 1:
            n.append(f"**Warning: {s} source code changed between runs** (fingerprints "
                     f"{', '.join(c or '?' for c in codes)}); medians mix versions.")
    return n


def variants(setup: setups.Setup, o: argparse.Namespace) -> list[setups.Variant]:
    return [v for v in setup.variants
            if not o.only or (v.kind == "distribution") == (o.only == "distribution")]


def measure(o: argparse.Namespace, workdir: Path) -> dict[str, dict[str, list[dict]]]:
    """runs[setup][variant] = one {workload: results} per run."""
    runs = {st.name: {v.key: [] for v in variants(st, o)} for st in o.setups}
    backends = setups.Backends(workdir, o)
    try:
        backends.start(set().union(*(st.needs for st in o.setups)))
        for i in range(o.runs):
            for st in o.setups:
                if st.custom is not None:  # its own procedure (gc-sweep)
                    if i < st.custom.runs(o) and o.only != "distribution":
                        runs[st.name].setdefault("sweeps", []).append(
                            st.custom.measure(backends, o, i))
                    continue
                so, work = st.options(o), st.selected_workloads(o)
                vs = variants(st, o)
                for k, v in enumerate(vs if i % 2 == 0 else vs[::-1]):
                    print(f"run {i + 1}/{o.runs} [{st.name}] {v.label}", file=sys.stderr)
                    try:
                        server = v.make(backends)
                        runs[st.name][v.key].append(run_server(
                            server, so, i * 100 + k, work, v.kind, st.check_at_rest))
                    except Exception as e:  # startup failure: record it, go on with the rest
                        print(f"    {v.label} failed: {e}", file=sys.stderr)
                        runs[st.name][v.key].append({w: {"error": str(e)}
                                                     for w in ["idle", *work]})
    finally:
        backends.stop()
    return runs


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    # SIGTERM/SIGHUP unwind like Ctrl-C so the servers' `finally: stop()` runs.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    load_before = os.getloadavg()
    selftest = None
    if not o.no_selftest:
        selftest = loadgen.selftest(max(o.concurrency), min(2.0, o.duration + 1))
        print(f"load generator self-test (canned server, c{max(o.concurrency)}): "
              f"{selftest['req_s']:,.0f} req/s at {selftest['client_cpu_pct']:.0f}% of a core",
              file=sys.stderr)
    workdir = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="berth-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    print(f"setups: {', '.join(st.name for st in o.setups)}; workloads: "
          f"{', '.join(o.workloads)}; runs: {o.runs}; workdir: {workdir}", file=sys.stderr)
    runs = measure(o, workdir)
    elapsed = time.time() - started
    if not o.workdir:
        try:
            workdir.rmdir()
        except OSError:
            pass

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    meta = versions() | {"started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
                         "elapsed_s": round(elapsed, 1), "argv": sys.argv[1:],
                         "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                         "client_selftest": selftest}
    header = (f"## Berth vs Distribution — {meta['started']}\n\n"
              f"{meta['distribution']}; Berth {meta['berth_git'] or '(no git rev)'}; "
              f"{meta['cpus']} CPUs, kernel {meta['kernel']}, Python {meta['python']}, "
              f"load generator on {meta['loadgen_loop']}; {o.runs} run(s); "
              f"took {elapsed / 60:.1f} min.\n")
    sections, medians, flat = [header], {}, {}
    for st in o.setups:
        if st.custom is not None:
            sections.append(st.custom.markdown(runs[st.name], o))
            flat[st.name] = [r for run in runs[st.name].get("sweeps", []) for r in run.values()]
            continue
        so, vs = st.options(o), variants(st, o)
        columns = [report.Column(v.key, v.label, v.kind, v.short) for v in vs]
        keys = {v.key for v in vs}
        ratios = [r for r in st.ratios if set(r) <= keys]
        medians[st.name] = rows = report.summarize(so, runs[st.name], columns, ratios)
        sections.append(report.markdown(rows, f"### {st.title}",
                                        setup_notes(st, runs[st.name], so), columns, ratios))
        flat.update({f"{st.name}/{v.label}": runs[st.name][v.key] for v in vs})
    sections.append("### Method and conditions\n\n"
                    + "\n".join(f"- {n}" for n in notes(o, flat, meta)) + "\n")
    md = "\n".join(sections)
    print(md)
    out_dir = Path(o.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stamp}.md").write_text(md)
    options = vars(o) | {"setups": [st.name for st in o.setups]}
    (out_dir / f"{stamp}.json").write_text(json.dumps(_finite(
        {"meta": meta, "options": options, "medians": medians, "runs": runs}), indent=1,
        default=str))
    print(f"wrote {out_dir / stamp}.md and .json", file=sys.stderr)
    failed = any("error" in r or any("error" in w for w in r.values() if isinstance(w, dict))
                 for rs in flat.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
