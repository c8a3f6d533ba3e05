"""Runs the selected setups: each server variant started fresh per run, every workload in a
child process while the parent samples the server's RSS and CPU."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import traceback
from pathlib import Path

from . import httpc, setups
from .at_rest import plaintext_copies
from .oci import MIB
from .options import BERTH_ONLY, WORKLOADS
from .procmon import RssSampler, current_pss, current_rss, system_cpu_seconds, tree_cpu_seconds
from .servers import Server
from .workloads import Ctx


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


def _in_child(fn, ctx: Ctx, pids: list[int], timeout: float) -> tuple[str, object, RssSampler]:
    """(status, payload) of fn(ctx) run in a forked child, and the RSS of `pids` meanwhile."""
    mp = multiprocessing.get_context("fork")
    recv, send = mp.Pipe(duplex=False)
    child = mp.Process(target=_child, args=(fn, ctx, send), daemon=True)
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
    return status, payload, rss


def run_workload(name: str, server: Server, ctx: Ctx, timeout: float) -> dict:
    """Runs WORKLOADS[name] in a child process while sampling the server's RSS and CPU."""
    pids, backend = server.pids, server.backend_pids
    cpu0, (busy0, steal0), t0 = tree_cpu_seconds(pids), system_cpu_seconds(), time.monotonic()
    backend0 = tree_cpu_seconds(backend) if backend else 0.0
    status, payload, rss = _in_child(WORKLOADS[name], ctx, pids, timeout)
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


def _context(server: Server, o: argparse.Namespace, seed: int) -> Ctx:
    ports = server.ports
    return Ctx("127.0.0.1", server.port, seed, o, server.authorization(),
               server.signing_credentials(), ports if len(ports) > 1 else (),
               tuple(server.pids), tuple(server.backend_pids), server.base_url, server.ca_file)


def run_server(server: Server, o: argparse.Namespace, seed: int, workloads: list[str],
               kind: str = "berth", check_at_rest: bool = False) -> dict:
    out: dict = {}
    try:
        code = server.code_fingerprint()
        server.start()
        time.sleep(0.5)
        out["idle"] = {"rss": current_rss(server.pids), "pss": current_pss(server.pids),
                       "code": code}
        ctx = _context(server, o, seed)
        for name in workloads:
            if name in BERTH_ONLY and kind != "berth":
                continue  # reported as n/a
            gone = server.exited()
            out[name] = {"error": gone} if gone else _timed(name, server, ctx, o.timeout)
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


def _timed(name: str, server: Server, ctx: Ctx, timeout: float) -> dict:
    """run_workload, with a line on stderr: its time and gist, or its error."""
    t0 = time.monotonic()
    res = run_workload(name, server, ctx, timeout)
    took = time.monotonic() - t0
    if "error" in res:
        print(f"    {name:16s} ERROR ({took:.1f}s):\n"
              + "\n".join("      " + ln for ln in res["error"].strip().splitlines()[-6:]),
              file=sys.stderr)
    else:
        print(f"    {name:16s} {took:6.1f}s  {_brief(name, res)}", file=sys.stderr)
    return res


def _brief(name: str, r: dict) -> str:
    rss = f"peak RSS {r['rss_peak'] / 2**20:.0f} MiB"
    if "mib_s" in r:
        via = f" (via 307 to {r['redirect_to']})" if r.get("redirected") else ""
        return f"{r['mib_s']:.0f} MiB/s{via}, {rss}"
    if "images_s" in r:
        return f"{r['images_s']:.0f} images/s ({r['upload_mode']}), {rss}"
    if "tags_s" in r:
        return (f"{r['tags_s']:.0f} tags/s, list {r['list_seconds']:.3f}s/{r['list_pages']} "
                f"pages, whole list {r['full_list_ms']:.1f} ms, {rss}")
    cells = [k[:-6] for k in r if k.endswith("_req_s") and "ceiling" not in k]
    return ", ".join(f"{c} {r[c + '_req_s']:.0f}/s" for c in cells) + f", {rss}"


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
                if st.custom is None:
                    _measure_variants(st, o, backends, i, runs[st.name])
                elif i < st.custom.runs(o) and o.only != "distribution":  # gc-sweep
                    runs[st.name].setdefault("sweeps", []).append(
                        st.custom.measure(backends, o, i))
    finally:
        backends.stop()
    return runs


def _measure_variants(st: setups.Setup, o: argparse.Namespace, backends: setups.Backends,
                      i: int, runs: dict[str, list[dict]]) -> None:
    """Run i of one setup: each variant started fresh, their order alternating between runs."""
    so, work = st.options(o), st.selected_workloads(o)
    vs = variants(st, o)
    for k, v in enumerate(vs if i % 2 == 0 else vs[::-1]):
        print(f"run {i + 1}/{o.runs} [{st.name}] {v.label}", file=sys.stderr)
        try:
            server = v.make(backends)
            runs[v.key].append(run_server(server, so, i * 100 + k, work, v.kind,
                                          st.check_at_rest))
        except Exception as e:  # startup failure: record it, go on with the rest
            print(f"    {v.label} failed: {e}", file=sys.stderr)
            runs[v.key].append({w: {"error": str(e)} for w in ["idle", *work]})
