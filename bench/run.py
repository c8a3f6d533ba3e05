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

Output: Markdown tables (one per setup) on stdout and in bench/results/<timestamp>.md, raw
numbers of every run in bench/results/<timestamp>.json. Set BENCH_KEEP_FAILED=1 to keep the
data dir and server.log of a server whose run raised.

Code: bench/options.py (workloads table, flags), bench/setups.py (the setups), bench/runner.py
(servers and workloads run and sampled), bench/summary.py (tables, notes, results files).
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen, options, runner, summary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    o = options.parse_args(argv, __doc__.split("\n\n")[0])
    # SIGTERM/SIGHUP unwind like Ctrl-C so the servers' `finally: stop()` runs.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    load_before = os.getloadavg()
    selftest = None if o.no_selftest else _selftest(o)
    workdir = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="berth-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    print(f"setups: {', '.join(st.name for st in o.setups)}; workloads: "
          f"{', '.join(o.workloads)}; runs: {o.runs}; workdir: {workdir}", file=sys.stderr)
    runs = runner.measure(o, workdir)
    elapsed = time.time() - started
    if not o.workdir:
        try:
            workdir.rmdir()
        except OSError:
            pass
    return summary.write(o, runs, started, elapsed, load_before, selftest)


def _selftest(o) -> dict:
    """The load generator alone against a canned-response server: what it can drive."""
    st = loadgen.selftest(max(o.concurrency), min(2.0, o.duration + 1))
    print(f"load generator self-test (canned server, c{max(o.concurrency)}): "
          f"{st['req_s']:,.0f} req/s at {st['client_cpu_pct']:.0f}% of a core", file=sys.stderr)
    return st


if __name__ == "__main__":
    sys.exit(main())
