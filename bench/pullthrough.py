"""Pull-through cache: the first pull of an image through Berth (fetched from the upstream
while it streams to the client and is stored) against a direct pull of the same image from
the upstream (CNCF Distribution), and the pull of the cached copy once its import has made it
an image against the pull of an image of the same size pushed to Berth itself. On a real
`berth serve` with its defaults; every run has fresh servers and alternates the order of the
compared pulls. A pull is what a client does: GET the manifest by tag, then the config and
the --blob-mib layer, read whole in 1 MiB chunks over one keep-alive connection.

Also: how many blob GETs the upstream answered during the cached pull (should be 0) and
during the first pull and its import, and how long after the first pull's end the import is
visible (ECR ListImages shows the tag, polled every 50 ms), and the CPU time both servers
spent during each pull.

On loopback Distribution serves at ~2 GB/s, faster than Berth can hash, seal and store, so
there the first pull is several times the direct pull. A real upstream delivers 10-200 MB/s;
`--upstream-mib-s N` measures over such a link: a token-bucket TCP relay in the benchmark
(bench/throttle.py) in front of Distribution, N MiB/s upstream -> client, through which go
both the direct pull and the Berth rule's upstream (the pushes go to Distribution directly).
There first pull ≈ direct pull if Berth streams. Repeatable; 0 is the unthrottled loopback.
Default: 0 and 100 (each its own section of the table, both in every run), 0 with --quick.

    .venv/bin/python -m bench.pullthrough [--blob-mib 512] [--runs 3] [--quick]
        [--upstream-mib-s N ...]

Output: a Markdown table on stdout and in bench/results/<timestamp>-pullthrough.md."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpc import SyncConn, split_url  # noqa: E402
from bench.oci import ACCEPT_MANIFESTS, MIB, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST  # noqa: E402
from bench.oci import blob_chunks, blob_digest, image_config, sha256_digest, with_query  # noqa: E402
from bench.procmon import tree_cpu_seconds  # noqa: E402
from bench.servers import Berth, Distribution  # noqa: E402
from bench.throttle import ThrottledProxy  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PREFIX = "up"               # the rule's ecrRepositoryPrefix
UPSTREAM_REPO = "bench/app"  # served by Berth as up/bench/app
OWN_REPO = "own/app"         # pushed to Berth itself
TAG = "v1"
IMPORT_TIMEOUT = 600.0
DEFAULT_LINKS = (0.0, 100.0)  # MiB/s of the upstream link (0: loopback, unthrottled)
FIRST_TARGET, CACHED_TARGET = 1.2, 0.95
USER_AGENT = "berth-bench-pullthrough"  # the benchmark's own requests (not Berth's)
_LOGGED = re.compile(r'http\.request\.method=(\w+)\b.*?http\.request\.uri="?([^"\s]*)'
                     r'.*?http\.request\.useragent="?([^"\s]*)')  # (logfmt quotes some values)


class LoggingDistribution(Distribution):
    """Distribution logging at info: a "response completed" line per request it answered."""

    def command(self) -> list[str]:
        cmd = super().command()
        cfg = Path(cmd[-1])
        cfg.write_text(cfg.read_text().replace("level: warn", "level: info", 1))
        return cmd

    def requests(self, method: str, path_part: str) -> int:
        """`method` requests with `path_part` in their path others than the benchmark made
        (Berth's), answered so far."""
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "response completed" in line
                   for m in [_LOGGED.search(line)] if m and m.group(1) == method
                   and path_part in m.group(2) and m.group(3) != USER_AGENT)


class Via:
    """`server` reached through the throttled link `proxy`: what the client needs of it."""

    def __init__(self, server, proxy: ThrottledProxy):
        self.label = f"{server.label} via the {proxy.mib_s:g} MiB/s link"
        self.base_url, self.authorization = proxy.base_url, server.authorization


def _link_label(mib_s: float) -> str:
    return ("Upstream on loopback, unthrottled" if not mib_s else
            f"Upstream behind a {mib_s:g} MiB/s link (throttling relay)")


# -- the client: push and pull over one keep-alive connection -------------------------------
def _conn(server) -> tuple[SyncConn, dict[str, str]]:
    host, port, _ = split_url(server.base_url)
    auth = server.authorization()
    headers = {"User-Agent": USER_AGENT} | ({"Authorization": auth} if auth else {})
    return SyncConn(host, port, timeout=600), headers


def push(server, repo: str, size: int, seed: int) -> str:
    """An image of one `size`-byte layer (POST, then PUT with the body); its manifest digest."""
    conn, headers = _conn(server)
    try:
        digest = blob_digest(size, seed)
        config = image_config(digest, seed)
        for blob, dig, n in ((blob_chunks(size, seed), digest, size),
                             (config, sha256_digest(config), len(config))):
            r = conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers)
            r.expect(202, what=f"start upload to {server.label}")
            r = conn.request("PUT", with_query(r.headers["location"], digest=dig),
                             {**headers, "Content-Type": "application/octet-stream"},
                             body=blob, length=n)
            r.expect(201, what=f"upload to {server.label}")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config),
                       "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest, "size": size}]},
            separators=(",", ":")).encode()
        conn.request("PUT", f"/v2/{repo}/manifests/{TAG}",
                     {**headers, "Content-Type": OCI_MANIFEST}, body=manifest
                     ).expect(201, what=f"manifest PUT to {server.label}")
        return sha256_digest(manifest)
    finally:
        conn.close()


def pull(server, repo: str, size: int, servers: list) -> tuple[float, float]:
    """Seconds to GET the manifest by tag, then its config and layer blobs read whole; and
    the CPU seconds the `servers` (Berth and Distribution) spent meanwhile."""
    conn, headers = _conn(server)
    os.sync()  # the pushes' (or the last pull's) dirty pages written before the clock starts
    pids = [pid for s in servers for pid in s.pids]
    try:
        cpu = tree_cpu_seconds(pids)
        started = time.perf_counter()
        r = conn.request("GET", f"/v2/{repo}/manifests/{TAG}", {**headers,
                                                                "Accept": ACCEPT_MANIFESTS})
        manifest = json.loads(r.expect(200, what=f"manifest GET from {server.label}").body)
        for desc in [manifest["config"]] + manifest["layers"]:
            r = conn.request("GET", f"/v2/{repo}/blobs/{desc['digest']}", headers,
                             keep_body=False)
            r.expect(200, what=f"blob GET from {server.label}")
            if r.nbytes != desc["size"]:
                raise RuntimeError(f"{server.label}: {r.nbytes} bytes of {desc['size']}")
        seconds = time.perf_counter() - started
        cpu = tree_cpu_seconds(pids) - cpu
    finally:
        conn.close()
    if manifest["layers"][0]["size"] != size:
        raise RuntimeError(f"{server.label}: the layer is not {size} bytes")
    return seconds, cpu


# -- one run -----------------------------------------------------------------------------
def _ecr(berth: Berth):
    key, secret = berth.signing_credentials()
    return boto3.client("ecr", region_name="us-east-1", endpoint_url=berth.base_url,
                        aws_access_key_id=key, aws_secret_access_key=secret)


def _wait_imported(ecr, repo: str, digest: str) -> float:
    """Polls ListImages until the tag shows; the perf_counter of the answer that showed it."""
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            ids = ecr.list_images(repositoryName=repo,
                                  filter={"tagStatus": "TAGGED"})["imageIds"]
        except ecr.exceptions.RepositoryNotFoundException:
            ids = []
        if {"imageDigest": digest, "imageTag": TAG} in ids:
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError(f"{repo}:{TAG} not imported after {IMPORT_TIMEOUT:.0f} s")


def one_run(args, n: int, workdir: Path, mib_s: float = 0.0) -> dict:
    """With `mib_s`, the direct pull and Berth's rule go through a link of `mib_s` MiB/s."""
    size, swap = args.blob_mib * MIB, n % 2 == 1
    upstream, berth = LoggingDistribution(workdir), Berth(workdir)
    upstream.start()
    proxy = ThrottledProxy(upstream.port, mib_s).start() if mib_s else None
    source = Via(upstream, proxy) if proxy else upstream  # where the direct pull goes
    relayed = (lambda: proxy.relayed / MIB) if proxy else (lambda: 0.0)
    try:
        berth.start()
        try:
            ecr = _ecr(berth)
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=PREFIX,
                                               upstreamRegistryUrl=source.base_url)
            cached_repo = f"{PREFIX}/{UPSTREAM_REPO}"
            digest = push(upstream, UPSTREAM_REPO, size, seed=1000 + n)
            push(berth, OWN_REPO, size, seed=2000 + n)
            out = {"fingerprint": berth.code_fingerprint(), "order": []}
            both = [berth, upstream]
            blobs0 = upstream.requests("GET", "/blobs/")

            def first() -> None:
                link0 = relayed()
                out["first_s"], out["first_cpu"] = pull(berth, cached_repo, size, both)
                ended = time.perf_counter()
                out["import_s"] = _wait_imported(ecr, cached_repo, digest) - ended
                out["import_blob_gets"] = upstream.requests("GET", "/blobs/") - blobs0
                out["first_link_mib"] = relayed() - link0

            def direct() -> None:
                link0 = relayed()
                out["direct_s"], out["direct_cpu"] = pull(source, UPSTREAM_REPO, size, both)
                out["direct_link_mib"] = relayed() - link0

            def cached() -> None:
                before = (upstream.requests("GET", "/blobs/"),
                          upstream.requests("GET", "/manifests/"))
                out["cached_s"], out["cached_cpu"] = pull(berth, cached_repo, size, both)
                time.sleep(0.2)  # Distribution logs a request after its answer
                out["cached_blob_gets"] = upstream.requests("GET", "/blobs/") - before[0]
                out["cached_manifest_gets"] = (upstream.requests("GET", "/manifests/")
                                               - before[1])

            def own() -> None:
                out["own_s"], out["own_cpu"] = pull(berth, OWN_REPO, size, both)

            for label, step in ((("direct", direct), ("first", first)) if swap else
                                (("first", first), ("direct", direct))) + \
                               ((("own", own), ("cached", cached)) if swap else
                                (("cached", cached), ("own", own))):
                step()
                out["order"].append(label)
            return out
        except Exception:
            print(f"Berth's log tail:\n{berth.log_tail()}", file=sys.stderr)
            raise
        finally:
            berth.stop()
    finally:
        if proxy:
            proxy.stop()
        upstream.stop()


# -- the report --------------------------------------------------------------------------
def _med(runs: list[dict], f) -> tuple[float, list[float]]:
    vals = [f(r) for r in runs]
    return statistics.median(vals), vals


def _rows(mib: int, mib_s: float, runs: list[dict]) -> list[tuple[str, str, str, str]]:
    """The table's rows for the runs over one upstream link."""
    rows = []  # (label, median, per run, target)

    def row(label, f, fmt, target=""):
        med, vals = _med(runs, f)
        rows.append((label, fmt.format(med), ", ".join(fmt.format(v) for v in vals),
                     target(med) if callable(target) else target))

    def verdict(ok: bool, text: str) -> str:
        return f"{text}: " + ("met" if ok else "**missed**")

    row("First pull through the cache (s)", lambda r: r["first_s"], "{:,.2f}")
    row("Direct pull from the upstream Distribution (s)", lambda r: r["direct_s"], "{:,.2f}")
    row("First pull through the cache (MiB/s)", lambda r: mib / r["first_s"], "{:,.0f}")
    row("Direct pull from the upstream (MiB/s)", lambda r: mib / r["direct_s"], "{:,.0f}")
    row("Ratio first pull / direct pull (time)", lambda r: r["first_s"] / r["direct_s"],
        "{:.2f}×", lambda m: verdict(m <= FIRST_TARGET, f"target ≤ {FIRST_TARGET}×"))
    row("Cached pull through Berth, after the import (s)", lambda r: r["cached_s"], "{:,.2f}")
    row("Pull of an own Berth repository's image (s)", lambda r: r["own_s"], "{:,.2f}")
    row("Cached pull (MiB/s)", lambda r: mib / r["cached_s"], "{:,.0f}")
    row("Own-repository pull (MiB/s)", lambda r: mib / r["own_s"], "{:,.0f}")
    row("Ratio cached / own (throughput)", lambda r: r["own_s"] / r["cached_s"], "{:.2f}×",
        lambda m: verdict(m >= CACHED_TARGET, f"target ≥ {CACHED_TARGET}×"))
    for key, what in (("first", "first pull"), ("direct", "direct pull"),
                      ("cached", "cached pull"), ("own", "own-repository pull")):
        row(f"Servers' CPU during the {what}, Berth + Distribution (CPU-s)",
            lambda r, key=key: r[key + "_cpu"], "{:,.2f}")
    row("Upstream blob GETs during the cached pull", lambda r: r["cached_blob_gets"], "{:.0f}",
        lambda m: verdict(m == 0, "target 0"))
    row("Upstream manifest GETs during the cached pull", lambda r: r["cached_manifest_gets"],
        "{:.0f}")
    row("Upstream blob GETs by the first pull and its import (2 blobs)",
        lambda r: r["import_blob_gets"], "{:.0f}")
    row("Import visible after the first pull's end (s)", lambda r: r["import_s"], "{:,.2f}")
    if mib_s:
        row("MiB through the link: first pull and its import", lambda r: r["first_link_mib"],
            "{:,.1f}")
        row("MiB through the link: direct pull", lambda r: r["direct_link_mib"], "{:,.1f}")
    return rows


def report(args, variants: list[tuple[float, list[dict]]], loads: tuple, started: str) -> str:
    """`variants`: (MiB/s of the upstream link, 0 for none; its runs) in table order."""
    mib, runs = args.blob_mib, [r for _, rs in variants for r in rs]
    nruns = len(variants[0][1])
    links = ", ".join("unthrottled" if not m else f"{m:g} MiB/s" for m, _ in variants)
    throttled = [m for m, _ in variants if m]
    prints = sorted({r["fingerprint"] for r in runs})
    out = [(f"# Pull-through cache: {mib} MiB layer, upstream {links}; {nruns} run(s) each, "
            "medians"), "",
           (f"- started {started}; {platform.node()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; berth code {', '.join(prints)}"),
           f"- load average (1, 5, 15 min) before: {loads[0]}; after: {loads[1]}",
           ("- `berth serve` on its defaults (filesystem storage, one worker per CPU, jobs "
            "polled every second); upstream: CNCF Distribution (/usr/bin/docker-registry), "
            "filesystem, plain HTTP on loopback"),
           *([(f"- throttled link ({', '.join(f'{m:g}' for m in throttled)} MiB/s): a "
              "token-bucket TCP relay in the benchmark process (bench/throttle.py, threads, "
              "≤ 10 ms burst, no added latency) in front of Distribution, limiting upstream → "
              "client and shared by all connections; both the direct pull and Berth's "
              "pull-through rule go through it (the pushes do not). The relay's own CPU is "
              "not in the servers' CPU rows")] if throttled else []),
           "- in each run every link gets fresh servers, links in the table's order",
           "- ratios are the medians of each run's own ratio (both sides measured in the same "
           "run); order per run: " + "; ".join(" → ".join(r["order"])
                                               for r in variants[0][1]),
           "", "| metric | median | runs | target |", "|---|---:|---:|---|"]
    for mib_s, rs in variants:
        out.append(f"| **{_link_label(mib_s)}** | | | |")
        out += [f"| {label} | {med} | {vals} | {target} |"
                for label, med, vals, target in _rows(mib, mib_s, rs)]
    return "\n".join(out) + "\n"


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blob-mib", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="64 MiB, one run")
    p.add_argument("--upstream-mib-s", type=float, action="append", metavar="N",
                   help="measure with the upstream behind a link of N MiB/s (0: loopback, "
                        "unthrottled); repeatable. Default: 0 and 100, or 0 with --quick")
    p.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = p.parse_args(argv)
    if args.quick:
        args.blob_mib, args.runs = 64, 1
    if args.upstream_mib_s is None:
        args.upstream_mib_s = [0.0] if args.quick else list(DEFAULT_LINKS)
    if any(m < 0 for m in args.upstream_mib_s):
        p.error("--upstream-mib-s must be >= 0")
    links = list(dict.fromkeys(args.upstream_mib_s))
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    load_before, runs = _load(), {m: [] for m in links}
    for n in range(args.runs):
        for mib_s in links:
            with tempfile.TemporaryDirectory(prefix="berth-bench-pullthrough-") as workdir:
                r = one_run(args, n, Path(workdir), mib_s)
            runs[mib_s].append(r)
            print(f"run {n + 1}/{args.runs}, {_link_label(mib_s)} "
                  f"({' → '.join(r['order'])}): first {r['first_s']:.2f} s, direct "
                  f"{r['direct_s']:.2f} s, cached {r['cached_s']:.2f} s, own "
                  f"{r['own_s']:.2f} s, import visible +{r['import_s']:.2f} s, upstream blob "
                  f"GETs {r['import_blob_gets']} then {r['cached_blob_gets']}", file=sys.stderr)
    text = report(args, list(runs.items()), (load_before, _load()), started)
    print(text)
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}-pullthrough.md"
    path.write_text(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
