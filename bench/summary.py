"""bench/run.py's output: the Markdown tables with notes on method and conditions, and the raw
numbers, in bench/results/<timestamp>.md and .json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from . import loadgen, report
from .runner import variants
from .servers import DISTRIBUTION_BIN
from .setup_notes import setup_notes


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
        n.append(f"Load generator alone ({meta['loadgen_loop']}, GET c{max(o.concurrency)} "
                 f"against a canned-response server on the other CPU): {st['req_s']:,.0f} "
                 f"req/s using {st['client_cpu_pct']:.0f}% of one core, i.e. "
                 f"~{st['client_ceiling_req_s']:,.0f} req/s per client CPU-second.")
    return n + _machine_notes(flat, meta) + _variant_notes(flat)


def _machine_notes(flat: dict[str, list[dict]], meta: dict) -> list[str]:
    """How busy the machine was besides the servers under test."""
    other = [w["other_cpu_pct"] for rs in flat.values() for r in rs for w in r.values()
             if "other_cpu_pct" in w]
    steal = [w["steal_pct"] for rs in flat.values() for r in rs for w in r.values()
             if "steal_pct" in w]
    if not other:
        return []
    n = [f"Other processes (not the server under test, not the storage/database "
         f"daemons it uses, not the client) used "
         f"{statistics.mean(other):.0f}% of the machine's CPU on average during workloads "
         f"(max {max(other):.0f}%); hypervisor steal averaged "
         f"{statistics.mean(steal):.0f}%. Load average before/after: "
         f"{meta['loadavg_before'][0]:.2f}/{meta['loadavg_after'][0]:.2f}."]
    if max(other) > 10:
        n.append("**Warning: the machine was not idle; numbers are noisy. Re-run on a quiet "
                 "machine for figures to quote.**")
    return n


def _variant_notes(flat: dict[str, list[dict]]) -> list[str]:
    """Per server variant: upload mode, tag-list pages, and code that changed between runs."""
    n = []
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


def _header(o: argparse.Namespace, meta: dict, elapsed: float) -> str:
    return (f"## Berth vs Distribution — {meta['started']}\n\n"
            f"{meta['distribution']}; Berth {meta['berth_git'] or '(no git rev)'}; "
            f"{meta['cpus']} CPUs, kernel {meta['kernel']}, Python {meta['python']}, "
            f"load generator on {meta['loadgen_loop']}; {o.runs} run(s); "
            f"took {elapsed / 60:.1f} min.\n")


def _tables(o: argparse.Namespace, runs: dict) -> tuple[list[str], dict, dict]:
    """(one Markdown section per setup, medians per setup, runs per server variant)."""
    sections, medians, flat = [], {}, {}
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
    return sections, medians, flat


def write(o: argparse.Namespace, runs: dict, started: float, elapsed: float,
          load_before: tuple[float, float, float], selftest: dict | None) -> int:
    """Prints the tables, writes them and the raw numbers; 1 if anything failed, else 0."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    meta = versions() | {"started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
                         "elapsed_s": round(elapsed, 1), "argv": sys.argv[1:],
                         "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                         "client_selftest": selftest}
    tables, medians, flat = _tables(o, runs)
    md = "\n".join([_header(o, meta, elapsed), *tables, "### Method and conditions\n\n"
                    + "\n".join(f"- {n}" for n in notes(o, flat, meta)) + "\n"])
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
