"""Medians over runs and the Markdown comparison table (Berth vs Distribution)."""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

MIB = 1 << 20
ECR_P99_TARGET_MS = 50.0  # the target: p99 per page under 50 ms
NO_ECR = "n/a (Distribution has no ECR API)"
RESULTS = Path(__file__).resolve().parent / "results"


def publish(text: str, name: str) -> Path:
    """Print a bench's Markdown and keep it in bench/results/<timestamp>-<name>.md."""
    print(text)
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    return out


@dataclass
class Metric:
    label: str
    value: Callable[[dict], float | None]  # one run's per-workload results of one server -> value
    better: str                            # "higher", "lower" or "" (informational)
    fmt: str = "{:,.1f}"
    note: str = ""                         # shown instead of a ratio (Berth-only metrics)
    target_ms: float | None = None         # a latency target the report checks Berth against

    @property
    def workloads(self) -> tuple[str, ...]:
        return getattr(self.value, "workloads", ())


def _get(workload: str, key: str, scale: float = 1.0) -> Callable[[dict], float | None]:
    def f(run: dict) -> float | None:
        v = run.get(workload, {}).get(key)
        return None if v is None else v * scale
    f.workloads = (workload,)
    return f


def _diff(a: Callable, b: Callable) -> Callable[[dict], float | None]:
    def f(run: dict) -> float | None:
        x, y = a(run), b(run)
        return None if x is None or y is None else x - y
    f.workloads = a.workloads + b.workloads
    return f


def _ratio(seconds: Callable, cpu: Callable, mib: float) -> Callable[[dict], float | None]:
    """MiB per client CPU-second (present only if the workload ran)."""
    def f(run: dict) -> float | None:
        s, c = seconds(run), cpu(run)
        return None if s is None or not c else mib / c
    f.workloads = seconds.workloads
    return f


def _per_gib(key: str, workload: str, mib: float) -> Callable[[dict], float | None]:
    """A workload's `key` (CPU seconds) per GiB moved."""
    return _get(workload, key, 1024 / mib)


def metrics(o) -> list[Metric]:
    big = f"{o.big_blob_gib:g} GiB"
    m = [
        Metric(f"Blob push {o.blob_mib} MiB, monolithic POST+PUT (MiB/s)",
               _get("push_monolithic", "mib_s"), "higher"),
        Metric(f"Blob push {o.blob_mib} MiB, chunked {o.chunk_mib} MiB PATCHes (MiB/s)",
               _get("push_chunked", "mib_s"), "higher"),
        Metric(f"Blob pull {o.blob_mib} MiB (MiB/s)", _get("pull", "mib_s"), "higher"),
        Metric("Blob pull: the registry's 307 answer (ms)", _get("pull", "redirect_ms"),
               "lower", "{:,.2f}"),
        Metric(f"Small images pushed, {o.images} at c{o.image_concurrency} (images/s)",
               _get("push_images", "images_s"), "higher"),
    ]
    for meth in ("get", "head"):
        for c in o.concurrency:
            p = f"{meth}_c{c}_"
            m += [
                Metric(f"Manifest {meth.upper()} c{c} (req/s)", _get("manifests", p + "req_s"),
                       "higher", "{:,.0f}"),
                Metric(f"Manifest {meth.upper()} c{c} p50 latency (ms)",
                       _get("manifests", p + "p50_ms"), "lower", "{:,.2f}"),
                Metric(f"Manifest {meth.upper()} c{c} p99 latency (ms)",
                       _get("manifests", p + "p99_ms"), "lower", "{:,.2f}"),
                Metric(f"Manifest {meth.upper()} c{c} server CPU per request (µs)",
                       _get("manifests", p + "server_cpu_us_per_req"), "lower", "{:,.0f}"),
                Metric(f"Manifest {meth.upper()} c{c} server CPU (% of one core)",
                       _get("manifests", p + "server_cpu_pct"), "", "{:,.0f}"),
                Metric(f"Manifest {meth.upper()} c{c} storage/database daemons' CPU per request (µs)",
                       _get("manifests", p + "backend_cpu_us_per_req"), "lower", "{:,.0f}"),
            ]
    m += [
        Metric(f"Tags pushed, {o.tags} at c{o.tag_concurrency} (tags/s)", _get("tags", "tags_s"),
               "higher", "{:,.0f}"),
        Metric(f"Full tag listing, ?n={o.page_size} + Link (s)", _get("tags", "list_seconds"),
               "lower", "{:,.3f}"),
        Metric(f"Whole tag list ({o.tags + 1} tags), one GET without ?n (ms, median of 20)",
               _get("tags", "full_list_ms"), "lower", "{:,.1f}"),
        Metric("Idle RSS after start (MiB)", _get("idle", "rss", 1 / MIB), "lower"),
        Metric("Idle PSS after start (MiB)", _get("idle", "pss", 1 / MIB), "lower"),
    ]
    blob_work = (("push_monolithic", f"{o.blob_mib} MiB monolithic push"),
                 ("push_chunked", f"{o.blob_mib} MiB chunked push"),
                 ("pull", f"{o.blob_mib} MiB pull"))
    for key, whose, better in (("server_cpu_s", "Server", "lower"),
                               ("backend_cpu_s", "Storage/database daemons'", "")):
        m += [Metric(f"{whose} CPU during {what} (CPU-s per GiB)",
                     _per_gib(key, w, o.blob_mib), better, "{:,.2f}") for w, what in blob_work]
    for w, what in (("push_monolithic", f"{o.blob_mib} MiB monolithic push"),
                    ("push_chunked", f"{o.blob_mib} MiB chunked push"),
                    ("pull", f"{o.blob_mib} MiB pull"), ("push_images", "small-image push"),
                    ("manifests", "manifest GET/HEAD load"), ("tags", "tag push + listing"),
                    ("push_big", f"{big} monolithic push")):
        m.append(Metric(f"Peak RSS during {what} (MiB)", _get(w, "rss_peak", 1 / MIB), "lower"))
        m.append(Metric(f"Peak RSS of the largest process during {what} (MiB)",
                        _get(w, "rss_peak_process", 1 / MIB), "lower"))
        m.append(Metric(f"Peak PSS during {what} (MiB)", _get(w, "pss_peak", 1 / MIB),
                        "lower"))
    m += [
        Metric(f"RSS growth, {big} push peak minus {o.blob_mib} MiB push peak (MiB)",
               _diff(_get("push_big", "rss_peak", 1 / MIB),
                     _get("push_monolithic", "rss_peak", 1 / MIB)), "lower"),
        Metric(f"Blob push {big}, monolithic (MiB/s)", _get("push_big", "mib_s"), "higher"),
    ]
    top = max(o.concurrency)
    m += [
        Metric(f"Client ceiling, {o.blob_mib} MiB push (MiB per client CPU-second)",
               _ratio(_get("push_monolithic", "seconds"), _get("push_monolithic", "client_cpu_s"),
                      o.blob_mib), "", "{:,.0f}"),
        Metric(f"Client ceiling, {o.blob_mib} MiB pull (MiB per client CPU-second)",
               _ratio(_get("pull", "seconds"), _get("pull", "client_cpu_s"), o.blob_mib),
               "", "{:,.0f}"),
        Metric(f"Client ceiling, GET c{top} (req per client CPU-second)",
               _get("manifests", f"get_c{top}_client_ceiling_req_s"), "", "{:,.0f}"),
        Metric(f"Client CPU during GET c{top} (% of one core)",
               _get("manifests", f"get_c{top}_client_cpu_pct"), "", "{:,.0f}"),
    ]
    return m + ecr_metrics(o) + gc_metrics()


def gc_metrics() -> list[Metric]:
    """Rows of the gc-online setup: the churn, the sweeps, what was left to collect."""
    def g(label: str, key: str, fmt: str = "{:,.0f}") -> Metric:
        return Metric(f"GC: {label}", _get("gc", key), "", fmt)
    return [g("images pushed and deleted by the churn client", "churned"),
            g("churn pushes/deletes refused", "churn_failed"),
            g("churn client CPU (% of one core)", "churn_cpu_pct"),
            g("sweeps run during the workloads", "sweeps"),
            g("sweeps that freed something", "sweeps_freeing"),
            g("objects deleted by sweeps", "swept_objects"),
            g("mean sweep (s), of those that freed something", "sweep_mean_s", "{:,.2f}"),
            g("longest sweep (s)", "sweep_max_s", "{:,.2f}"),
            g("links left to collect at the end (dry run)", "left_links"),
            g("objects left to collect at the end (dry run)", "left_objects")]


def ecr_metrics(o) -> list[Metric]:
    """Berth-only rows of the ecr workload (SigV4-signed ECR API reads)."""
    def e(label: str, key: str, fmt: str = "{:,.1f}", target: bool = False,
          scale: float = 1.0) -> Metric:
        return Metric(f"ECR {label}", _get("ecr", key, scale), "", fmt, NO_ECR,
                      ECR_P99_TARGET_MS if target else None)
    m = [e(f"setup: {o.ecr_images:,} tagged images over OCI at c{o.image_concurrency} "
           "(images/s)", "setup_images_s", "{:,.0f}"),
         e("setup time (s)", "setup_s")]
    for op, short in (("DescribeImages", "describe"), ("ListImages", "list")):
        for size in (100, 1000):
            p = f"{short}_{size}_"
            what = f"{op} maxResults={size}"
            m += [e(f"{what} (pages/s)", p + "pages_s"),
                  e(f"{what} (images/s)", p + "images_s", "{:,.0f}"),
                  e(f"{what} p50 per page (ms)", p + "p50_ms", "{:,.2f}"),
                  e(f"{what} p99 per page (ms)", p + "p99_ms", "{:,.2f}", target=True),
                  e(f"{what} full walk (s)", p + "walk_s", "{:,.3f}"),
                  e(f"{what} client CPU (% of one core)", p + "client_cpu_pct", "{:,.0f}")]
    for n, c in ((1, 1), (1, 16), (10, 1), (10, 16)):
        p = f"batch{n}_c{c}_"
        what = f"BatchGetImage {n} id{'s' * (n > 1)}/call c{c}"
        m += [e(f"{what} (req/s)", p + "req_s", "{:,.0f}")]
        if n > 1:
            m += [e(f"{what} (images/s)", p + "images_s", "{:,.0f}")]
        m += [e(f"{what} p50 (ms)", p + "p50_ms", "{:,.2f}"),
              e(f"{what} p99 (ms)", p + "p99_ms", "{:,.2f}", target=True),
              e(f"{what} client CPU (% of one core)", p + "client_cpu_pct", "{:,.0f}")]
    return m + [e("peak RSS during the ECR workload (MiB)", "rss_peak", scale=1 / MIB)]


def median_or_none(vals: list[float | None]) -> float | None:
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(vals) if vals else None


@dataclass(frozen=True)
class Column:
    key: str           # the server variant's key in `runs`
    label: str
    kind: str = "berth"  # "distribution": n/a on Berth-only rows
    short: str = ""      # its name in ratio headers (default: label)


DEFAULT_COLUMNS = (Column("berth", "Berth"), Column("distribution", "Distribution", "distribution"))


def summarize(o, runs: dict[str, list[dict]], columns=DEFAULT_COLUMNS,
              ratios=(("berth", "distribution"),)) -> list[dict]:
    """runs[variant] = list of per-run {workload: {key: value}} -> rows with medians and
    ratios (a/b for each pair of variant keys)."""
    rows = []
    for m in metrics(o):
        row = {"metric": m.label, "better": m.better, "fmt": m.fmt, "note": m.note,
               "target_ms": m.target_ms}
        for c in columns:
            vals = [m.value(r) for r in runs.get(c.key, [])]
            row[c.key] = median_or_none(vals)
            row[c.key + "_runs"] = vals
            row[c.key + "_status"] = _status(runs.get(c.key), m.workloads)
        row["ratios"] = [_ratio_of(m, row.get(a), row.get(b)) for a, b in ratios]
        row["ratio"] = row["ratios"][0] if row["ratios"] else None
        statuses = [row[c.key + "_status"] for c in columns]
        values = [row[c.key] for c in columns]
        # Rows of workloads not selected are left out, and rows no server produced a value
        # for (e.g. redirect timings where nothing redirected).
        if "error" in statuses or (any(st not in ("skipped", "not run") for st in statuses)
                                   and any(v is not None for v in values)):
            rows.append(row)
    return rows


def _ratio_of(m: Metric, a: float | None, b: float | None) -> float | None:
    return a / b if m.better and a is not None and b and a >= 0 and b > 0 else None


def _status(server_runs: list[dict] | None, workloads: tuple[str, ...]) -> str:
    if not server_runs:
        return "not run"
    if any("error" in r.get(w, {}) for r in server_runs for w in workloads):
        return "error"
    if any(w not in r for r in server_runs for w in workloads):
        return "skipped"
    return "ok"


def _cell(row: dict, server: str) -> str:
    v = row[server]
    if v is None:
        return {"not run": "—", "ok": "—"}.get(row[server + "_status"], row[server + "_status"])
    flag = " (some runs failed)" if row[server + "_status"] == "error" else ""
    return row["fmt"].format(v) + flag


def _target(row: dict, key: str = "berth") -> str:
    t, v = row.get("target_ms"), row.get(key)
    if t is None or v is None:
        return ""
    return f"; target p99 < {t:g} ms: " + ("met" if v < t else "**missed**")


def _ratio_cell(row: dict, ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if row["better"] in ("higher", "lower"):
        return f"{ratio:.2f}× ({row['better']} is better)"
    return f"{ratio:.2f}×"


def markdown(rows: list[dict], header: str, notes: list[str], columns=DEFAULT_COLUMNS,
             ratios=(("berth", "distribution"),)) -> str:
    labels = {c.key: c.short or c.label for c in columns}
    out = [header, "",
           "| metric | " + " | ".join(c.label for c in columns) + " | "
           + " | ".join(f"ratio ({labels[a]}/{labels[b]})" for a, b in ratios) + " |",
           "|---|" + "---:|" * (len(columns) + len(ratios))]
    for r in rows:
        if r.get("note"):  # a Berth-only row: the note instead of ratios
            first = next((c.key for c in columns if c.kind == "berth"), "berth")
            rcells = [r["note"] + _target(r, first)] + [""] * (len(ratios) - 1)
        else:
            rcells = [_ratio_cell(r, x) for x in r["ratios"]]
        cells = ["n/a" if r.get("note") and c.kind == "distribution" else _cell(r, c.key)
                 for c in columns]
        out.append(f"| {r['metric']} | " + " | ".join(cells + rcells) + " |")
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
