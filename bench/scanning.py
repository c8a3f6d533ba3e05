"""Vulnerability scanning, in-process on the embedded SQLite and filesystem storage: import of
the shared OSV data (PyPI, Go, crates.io) and of synthetic advisories for this machine's
Debian release; a cold scan of a ~200 MB Debian-based image pushed through the registry's
services (layer 1: this machine's dpkg database and os-release with --data-mb of random file
data, layer 2: old Python packages and node_modules), its time and peak RSS measured in a
fresh process; a warm scan of the same image in another repository (layer inventories from
the database, fresh Scanner); and the rematch of --rematch-images continuously scanned images
(stored inventories from a pool of --pool-layers layers) after one changed advisory, and
after one new advisory that affects every image. Targets are the scanning issue's.

    .venv/bin/python -m bench.scanning [--data-mb 180] [--rematch-images 10000] [--profile]

--profile runs the cold scan and the rematch under cProfile (in their child processes) and
prints the top entries; times measured with it on are inflated. The image and advisories are
bench/scan_image.py's; the rematch fleet and the child processes' probes bench/scan_fleet.py's."""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.app import open_registry  # noqa: E402
from berth.config import Settings  # noqa: E402
from berth.registry.blobs.bodies import Chunk  # noqa: E402
from berth.registry.images.format import OCI_MANIFEST  # noqa: E402
from berth.registry.references import Digest  # noqa: E402
from berth.scanning.scanner import Limits, Scanner  # noqa: E402
from berth.scanning.services import record  # noqa: E402
from berth.scanning.vulndb.store import import_source  # noqa: E402
from berth.storage.metadata import migrate  # noqa: E402
from berth.storage.metadata import repositories as repo_rows  # noqa: E402
from berth.storage.metadata import scanning as scan_rows  # noqa: E402
from berth.storage.metadata.database import Database  # noqa: E402

from bench import scan_fleet as fleet  # noqa: E402
from bench import scan_image as img  # noqa: E402
from bench.scan_fleet import Timer, maxrss, profiled, reset_peak, rss_now, rss_peak  # noqa: E402

VULNDB = Path("/work/shared/vulndb")
SOURCES = ("PyPI-all.zip", "Go-all.zip", "crates.io-all.zip")
TARGETS = {"cold": 10.0, "rss": 200.0, "warm": 1.0, "rematch": 60.0}


# -- children: the measured parts, each in a fresh process ----------------------------------
def child_scan(p: dict) -> dict:
    rss_start = maxrss()
    from berth.scanning import scanner as scanner_module
    read_timer = Timer(scanner_module, "read_layer")
    match_timer = Timer(scanner_module, "match_inventory")
    registry, _ = open_registry(Settings(data_dir=Path(p["data_dir"])))
    rss_before = maxrss()
    result = _cold_scan(registry, p, read_timer, match_timer)
    result.update(_warm_scan(registry, p, read_timer, match_timer))
    registry.close()
    return {**result, "rss_start": rss_start, "rss_before": rss_before, "rss_end": maxrss()}


def _cold_scan(registry, p: dict, read_timer: Timer, match_timer: Timer) -> dict:
    """Scans and records the image in p["cold"] with a new Scanner, nothing stored yet."""
    from berth.scanning.images import platforms
    cold = p["cold"]
    scanner = Scanner(registry, Limits())
    reset = reset_peak()
    rss_current = rss_now()

    def cold_scan():
        started = time.perf_counter()
        outcome = scanner.scan(p["registry_id"], cold["repo_id"], cold["repo"], cold["digest"],
                               "ENHANCED")
        scanned = time.perf_counter()
        record(registry.db, p["registry_id"], cold["repo_id"], cold["repo"], cold["digest"],
               "ENHANCED", outcome)
        return outcome, scanned - started, time.perf_counter() - scanned

    (outcome, scan_s, record_s), profile = profiled(p["profile"], cold_scan)
    rss_cold = maxrss()
    hwm_cold = rss_peak() if reset else float("nan")
    read_s, match_s = read_timer.spent, match_timer.spent
    platform = platforms(registry.db, cold["repo_id"], cold["digest"])[0]
    inventory = scanner.inventory(registry.blobs, cold["repo"], platform)
    return {
        "status": outcome.status, "description": outcome.description,
        "findings": len(outcome.findings),
        "severities": Counter(f.severity.label for f in outcome.findings),
        "finding_kinds": Counter(f.package.ecosystem for f in outcome.findings),
        "packages": len(inventory.packages),
        "by_kind": Counter(f"{pkg.manager}/{pkg.ecosystem}" for pkg in inventory.packages),
        "distro": f"{inventory.distro}",
        "scan_s": scan_s, "record_s": record_s, "read_layer_s": read_s, "match_s": match_s,
        "cold_s": scan_s + record_s, "rss_cold": rss_cold, "rss_current": rss_current,
        "hwm_cold": hwm_cold, "profile": profile}


def _warm_scan(registry, p: dict, read_timer: Timer, match_timer: Timer) -> dict:
    """Scans and records the same image in p["warm"] with a fresh Scanner: its layer
    inventories come from the database."""
    warm = p["warm"]
    fresh = Scanner(registry, Limits())
    read_timer.spent = match_timer.spent = 0.0
    reads_before = read_timer.calls
    started = time.perf_counter()
    outcome = fresh.scan(p["registry_id"], warm["repo_id"], warm["repo"], warm["digest"],
                         "ENHANCED")
    warm_scan_s = time.perf_counter() - started
    record(registry.db, p["registry_id"], warm["repo_id"], warm["repo"], warm["digest"],
           "ENHANCED", outcome)
    return {"warm_status": outcome.status, "warm_findings": len(outcome.findings),
            "warm_scan_s": warm_scan_s, "warm_s": time.perf_counter() - started,
            "warm_match_s": match_timer.spent,
            "warm_layer_reads": read_timer.calls - reads_before}


def child_main(spec: str) -> int:
    p = json.loads(spec)
    result = (child_scan if p["kind"] == "scan" else fleet.child_rematch)(p)
    print("RESULT " + json.dumps(result))
    return 0


def run_child(params: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.scanning", "--child", json.dumps(params)],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"child {params['kind']} failed ({out.returncode})")
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit("child printed no result:\n" + out.stdout + out.stderr)


# -- the parent: setup ----------------------------------------------------------------------
def import_advisories(db: Database, debian: Path) -> float:
    """Imports the shared OSV sources and the Debian folder; the seconds it took."""
    total = 0.0
    for path in [VULNDB / name for name in SOURCES] + [debian]:
        started = time.perf_counter()
        report = import_source(db, path)
        spent = time.perf_counter() - started
        print(f"import {report.name}: {report.records:,} advisories ({report.changed:,} stored) "
              f"in {spent:.1f} s")
        total += spent
    return total


async def _file_body(path: Path):
    """The layer file as an upload body (nothing else runs on this loop: plain reads)."""
    with open(path, "rb") as f:  # noqa: ASYNC230
        while chunk := f.read(1 << 20):
            yield chunk


def push_image(registry, repo: str, tag: str, layers: list[img.Layer]) -> str:
    for layer in layers:
        asyncio.run(registry.uploads.upload_whole(repo, Digest.parse(layer.digest),
                                                  _file_body(layer.path),
                                                  Chunk(length=layer.size)))
    config = img.image_config([layer.diff_id for layer in layers])
    registry.uploads.put_small(repo, Digest.of(config), config)
    body = img.image_manifest(config, [(layer.digest, layer.size) for layer in layers])
    return str(registry.manifests.put(repo, tag, body, OCI_MANIFEST).digest)


def copy_image(registry, source: str, repo: str, tag: str, digest: str,
               layers: list[img.Layer]) -> None:
    """The same image in another repository: blobs mounted, manifest put again."""
    with registry.db.read() as tx:
        row = scan_rows.manifest(tx, repo_rows.get_id(tx, registry.registry_id, source), digest)
    config = json.loads(row.content)["config"]["digest"]
    for blob in [config] + [layer.digest for layer in layers]:
        if not registry.blobs.mount(repo, Digest.parse(blob), source):
            raise SystemExit(f"could not mount {blob} into {repo}")
    registry.manifests.put(repo, tag, bytes(row.content), OCI_MANIFEST)


def start_scan(registry, repo: str, digest: str, continuous: bool = False) -> int:
    with registry.db.write() as tx:
        repo_id = repo_rows.get_id(tx, registry.registry_id, repo)
        scan_rows.start(tx, repo_id, digest, "ENHANCED", continuous, time.time())
    return repo_id


def prepare_image(registry, args, host: img.Host, data_dir: Path) -> tuple[int, dict]:
    """Builds the image, pushes it into one repository, mounts it into a second and starts a
    scan in each: layer 1's size and the cold and warm parts of the scan child's parameters."""
    started = time.perf_counter()
    files = {"etc/os-release": host.os_release, "var/lib/dpkg/status": host.status}
    layer1 = img.write_layer(data_dir / "layer1.tar.gz", files, args.data_mb << 20, args.files)
    layer2 = img.write_layer(data_dir / "layer2.tar.gz", img.app_files(), seed=2)
    built = time.perf_counter() - started
    started = time.perf_counter()
    digest = push_image(registry, "bench/debian-app", "v1", [layer1, layer2])
    copy_image(registry, "bench/debian-app", "bench/debian-app-copy", "v1", digest,
               [layer1, layer2])
    pushed = time.perf_counter() - started
    print(f"image: layer 1 {layer1.size / 2**20:.0f} MiB gzip, {layer1.members:,} entries; "
          f"layer 2 {layer2.size / 1024:.0f} KiB, {layer2.members} entries; built in "
          f"{built:.1f} s, pushed (and mounted into a second repository) in {pushed:.1f} s")
    cold_repo = start_scan(registry, "bench/debian-app", digest)
    warm_repo = start_scan(registry, "bench/debian-app-copy", digest)
    for layer in (layer1, layer2):
        layer.path.unlink()
    return layer1.size, {
        "cold": {"repo_id": cold_repo, "repo": "bench/debian-app", "digest": digest},
        "warm": {"repo_id": warm_repo, "repo": "bench/debian-app-copy", "digest": digest}}


# -- the parent: results --------------------------------------------------------------------
def print_scan(scan: dict) -> None:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(scan["by_kind"].items(), key=lambda x: -x[1]))
    print(f"cold scan: {scan['status']}, {scan['packages']} packages in the inventory "
          f"({kinds}); distro {scan['distro']}")
    print(f"  {scan['findings']} findings {dict(scan['severities'])} by ecosystem "
          f"{dict(scan['finding_kinds'])}")
    print(f"  scan {scan['scan_s']:.2f} s (layer reads {scan['read_layer_s']:.2f} s, matching "
          f"{scan['match_s']:.2f} s), record {scan['record_s']:.2f} s")
    print(f"  RSS: ru_maxrss {scan['rss_start']:.0f} MiB at child start (imports), "
          f"{scan['rss_before']:.0f} MiB before the scan (registry open), {scan['rss_cold']:.0f}"
          f" MiB after it; VmRSS {scan['rss_current']:.0f} MiB before the scan, its peak during "
          f"the scan (VmHWM after a reset) {scan['hwm_cold']:.0f} MiB")
    print(f"warm scan: {scan['warm_status']}, {scan['warm_findings']} findings, "
          f"{scan['warm_layer_reads']} layer reads; scan {scan['warm_scan_s']:.2f} s "
          f"(matching {scan['warm_match_s']:.2f} s), with record {scan['warm_s']:.2f} s")
    fleet.print_profile("cold scan + record", scan["profile"])


def _peak(scan: dict) -> float:
    """The scanning process's peak RSS while it scans: VmHWM reset before the scan when
    Linux allows it, else ru_maxrss (which includes the imports' peak)."""
    return scan["hwm_cold"] if scan["hwm_cold"] == scan["hwm_cold"] else scan["rss_cold"]


def _row(figure: str, measured: float, shown: str, target: str) -> tuple[str, str, str, str]:
    return (figure, shown, f"{TARGETS[target]:.0f} {'MiB' if target == 'rss' else 's'}",
            f"{measured / TARGETS[target]:.2f}")


def print_table(args, import_s: float, image_size: int, scan: dict, changed: dict,
                new: dict | None) -> None:
    images = f"{args.rematch_images:,} images"
    rows = [
        ("advisory import (PyPI, Go, crates.io, Debian)", f"{import_s:.1f} s", "-", "-"),
        _row(f"cold scan, {image_size / 2**20:.0f} MiB image, {scan['packages']} packages",
             scan["cold_s"], f"{scan['cold_s']:.2f} s", "cold"),
        _row("  peak RSS of the scanning process", _peak(scan), f"{_peak(scan):.0f} MiB", "rss"),
        _row("warm scan, same image, another repository", scan["warm_s"],
             f"{scan['warm_s']:.2f} s", "warm"),
        _row(f"rematch {images}, one changed advisory", changed["seconds"],
             f"{changed['seconds']:.1f} s", "rematch")]
    if new is not None:
        rows.append(_row(f"rematch {images}, one new advisory (all change)", new["seconds"],
                         f"{new['seconds']:.1f} s", "rematch"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':>10}  {'target':>8}  {'ratio':>5}")
    for figure, measured, goal, ratio in rows:
        print(f"{figure:<{width}}  {measured:>10}  {goal:>8}  {ratio:>5}")
    print(f"peak RSS (process, ru_maxrss): cold scan {scan['rss_cold']:.0f} MiB (before it "
          f"{scan['rss_before']:.0f}; VmHWM during the scan alone {scan['hwm_cold']:.0f}), "
          f"rematch {changed['rss_after']:.0f} MiB (before it {changed['rss_before']:.0f}; "
          f"during it {changed['hwm']:.0f})")


# -- the parent: the run --------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-mb", type=int, default=180, help="random file data in layer 1")
    p.add_argument("--files", type=int, default=3000, help="files that data is spread over")
    p.add_argument("--os-packages", type=int, default=0,
                   help="keep the first N stanzas of the host's dpkg status (0: all)")
    p.add_argument("--debian-advisories", type=int, default=100)
    p.add_argument("--rematch-images", type=int, default=10_000)
    p.add_argument("--pool-layers", type=int, default=500)
    p.add_argument("--repos", type=int, default=100, help="repositories the fleet spreads over")
    p.add_argument("--no-new-advisory", action="store_true",
                   help="skip the rematch after a new advisory affecting every image")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args.child)

    data_dir = Path(tempfile.mkdtemp(prefix="berth-bench-scanning-"))
    try:
        return run(args, data_dir)
    finally:
        if args.keep:
            print(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args, data_dir: Path) -> int:
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(Database(settings.database_url))
    registry, _ = open_registry(settings)
    host = img.describe_host(args.os_packages)
    print(f"host: {host.distro.pretty_name} ({host.ecosystem}), {len(host.packages)} dpkg "
          f"packages ({len(img.source_versions(host.packages))} source packages, "
          f"{len(host.required)} essential)")

    must = set(host.required_sources[:5])
    debian = img.debian_advisories(host.ecosystem, host.packages, args.debian_advisories, must)
    debian_dir = img.write_records(data_dir / "osv" / "Debian", debian)
    import_s = import_advisories(registry.db, debian_dir)

    image_size, images = prepare_image(registry, args, host, data_dir)
    scan = run_child({"kind": "scan", "data_dir": str(data_dir),
                      "registry_id": registry.registry_id, "profile": args.profile, **images})
    print_scan(scan)

    target = next(r for r in debian if r["affected"][0]["package"]["name"] in must)
    changed, new = fleet.measure(registry, args, data_dir, host, target, debian_dir, run_child)
    registry.close()
    print_table(args, import_s, image_size, scan, changed, new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
