"""bench/run.py's workloads table and command line."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import gc_sweep, setups, tls
from .workloads import blobs, ecr, images, manifests, tags

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


def parse_args(argv: list[str] | None = None, description: str | None = None
               ) -> argparse.Namespace:
    p = parser(description)
    pre, _ = p.parse_known_args(argv)
    if pre.quick:
        p.set_defaults(**QUICK)
    o = p.parse_args(argv)
    o.workloads = _workloads(p, o)
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


def _workloads(p: argparse.ArgumentParser, o: argparse.Namespace) -> list[str]:
    chosen = [w.strip() for w in o.workloads.split(",") if w.strip()]
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads: {sorted(unknown)}")
    if "pull" in chosen and "push_monolithic" not in chosen:
        chosen.insert(0, "push_monolithic")  # pull reads the blob it pushed
    if o.big_blob_gib <= 0 and "push_big" in chosen:
        chosen.remove("push_big")
    return [w for w in WORKLOADS if w in chosen]


def parser(description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _sizes(p)
    _servers(p)
    gc_sweep.add_arguments(p)
    tls.add_arguments(p)
    return p


def _sizes(p: argparse.ArgumentParser) -> None:
    """What to run and how big: --quick, --runs, --setups, --workloads and their sizes."""
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
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


def _servers(p: argparse.ArgumentParser) -> None:
    """How the servers and the client run, and where the results go."""
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
