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
prints the top entries; times measured with it on are inflated."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
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
from berth.scanning.services import CONTINUOUS_NOTE, record  # noqa: E402
from berth.scanning.vulndb.store import import_source  # noqa: E402
from berth.storage.metadata import migrate  # noqa: E402
from berth.storage.metadata import repositories as repo_rows  # noqa: E402
from berth.storage.metadata import scanning as scan_rows  # noqa: E402
from berth.storage.metadata.database import Database  # noqa: E402
from berth.storage.metadata.schema import manifests  # noqa: E402

from bench import scan_image as img  # noqa: E402

VULNDB = Path("/work/shared/vulndb")
SOURCES = ("PyPI-all.zip", "Go-all.zip", "crates.io-all.zip")
TARGETS = {"cold": 10.0, "rss": 200.0, "warm": 1.0, "rematch": 60.0}
MiB = 1024.0  # ru_maxrss is in KiB on Linux


def maxrss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MiB


def _status_kib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def reset_peak() -> bool:
    """Start VmHWM (the peak RSS) again from the current RSS (Linux: clear_refs 5), so the
    peak read after a step is that step's, not the imports' before it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_now() -> float:
    return _status_kib("VmRSS") / MiB


def rss_peak() -> float:
    return _status_kib("VmHWM") / MiB


# -- children: the measured parts, each in a fresh process ----------------------------------
class Timer:
    """Wraps a module attribute to add up the time spent in it (no change to Berth)."""

    def __init__(self, module, name: str):
        self.module, self.name, self.spent, self.calls = module, name, 0.0, 0
        original = getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started
                self.calls += 1

        setattr(module, name, timed)


def _profiled(enabled: bool, func):
    if not enabled:
        return func(), ""
    import cProfile
    import io
    import pstats
    profile = cProfile.Profile()
    result = profile.runcall(func)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(25)
    return result, out.getvalue()


def child_scan(p: dict) -> dict:
    rss_start = maxrss()
    from berth.scanning import scanner as scanner_module
    from berth.scanning.images import platforms
    read_timer = Timer(scanner_module, "read_layer")
    match_timer = Timer(scanner_module, "match_inventory")
    registry, _ = open_registry(Settings(data_dir=Path(p["data_dir"])))
    rss_before = maxrss()
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

    (outcome, scan_s, record_s), profile = _profiled(p["profile"], cold_scan)
    rss_cold = maxrss()
    hwm_cold = rss_peak() if reset else float("nan")
    read_s, match_s = read_timer.spent, match_timer.spent
    platform = platforms(registry.db, cold["repo_id"], cold["digest"])[0]
    inventory = scanner.inventory(registry.blobs, cold["repo"], platform)
    by_kind = Counter(f"{pkg.manager}/{pkg.ecosystem}" for pkg in inventory.packages)

    warm = p["warm"]
    fresh = Scanner(registry, Limits())
    read_timer.spent = match_timer.spent = 0.0
    reads_before = read_timer.calls
    started = time.perf_counter()
    warm_outcome = fresh.scan(p["registry_id"], warm["repo_id"], warm["repo"], warm["digest"],
                              "ENHANCED")
    warm_scan_s = time.perf_counter() - started
    record(registry.db, p["registry_id"], warm["repo_id"], warm["repo"], warm["digest"],
           "ENHANCED", warm_outcome)
    warm_s = time.perf_counter() - started
    registry.close()
    return {
        "status": outcome.status, "description": outcome.description,
        "findings": len(outcome.findings),
        "severities": Counter(f.severity.label for f in outcome.findings),
        "finding_kinds": Counter(f.package.ecosystem for f in outcome.findings),
        "packages": len(inventory.packages), "by_kind": by_kind,
        "distro": f"{inventory.distro}",
        "scan_s": scan_s, "record_s": record_s, "read_layer_s": read_s, "match_s": match_s,
        "cold_s": scan_s + record_s, "rss_start": rss_start, "rss_before": rss_before,
        "rss_cold": rss_cold, "rss_end": maxrss(), "rss_current": rss_current,
        "hwm_cold": hwm_cold,
        "warm_status": warm_outcome.status, "warm_findings": len(warm_outcome.findings),
        "warm_scan_s": warm_scan_s, "warm_s": warm_s, "warm_match_s": match_timer.spent,
        "warm_layer_reads": read_timer.calls - reads_before, "profile": profile}


def child_rematch(p: dict) -> dict:
    from berth.scanning import scanner as scanner_module
    from berth.scanning import tasks
    from berth.scanning.tasks import rematch_all
    registry, _ = open_registry(Settings(data_dir=Path(p["data_dir"])))
    scan_timer = Timer(Scanner, "scan")
    match_timer = Timer(scanner_module, "match_inventory")
    merge_timer = Timer(scanner_module, "merge")
    record_timer = Timer(tasks, "record")
    rss_before = maxrss()
    scanner = Scanner(registry, Limits())
    reset = reset_peak()
    rss_current = rss_now()

    def run():
        started = time.perf_counter()
        changed = rematch_all(registry.db, scanner)
        return changed, time.perf_counter() - started

    (changed, spent), profile = _profiled(p["profile"], run)
    rss_after = maxrss()
    hwm = rss_peak() if reset else float("nan")
    with registry.db.read() as tx:
        findings = dict(tx.all(_finding_counts()))
    registry.close()
    return {"changed": changed, "seconds": spent, "images": scan_timer.calls,
            "scan_s": scan_timer.spent, "match_s": match_timer.spent,
            "merge_s": merge_timer.spent, "record_s": record_timer.spent,
            "rss_before": rss_before, "rss_after": rss_after, "rss_current": rss_current,
            "hwm": hwm,
            "findings": findings, "profile": profile}


def _finding_counts():
    from sqlalchemy import func, select
    f = scan_rows.scan_findings
    return select(f.c.status, func.count().label("n")).group_by(f.c.status)


def child_main(spec: str) -> int:
    p = json.loads(spec)
    result = (child_scan if p["kind"] == "scan" else child_rematch)(p)
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
def import_advisories(db: Database, debian: Path) -> list[tuple[str, int, int, float]]:
    done = []
    for path in [VULNDB / name for name in SOURCES] + [debian]:
        started = time.perf_counter()
        report = import_source(db, path)
        done.append((report.name, report.records, report.changed,
                     time.perf_counter() - started))
    return done


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


def fill_fleet(registry, pool: list[img.PoolLayer], images: int, repos: int,
               seed: int = 3) -> None:
    """``images`` continuously scanned images over ``repos`` repositories, written straight
    into the tables: valid OCI manifests of pool layers, ACTIVE continuous scans."""
    rng = random.Random(seed)
    now = time.time()
    config = img.image_config([])
    with registry.db.write() as tx:
        for layer in pool:
            scan_rows.put_layer(tx, layer.digest, now, layer.content, None)
        repo_ids = []
        for r in range(repos):
            repo_ids.append(repo_rows.create(tx, registry.registry_id, f"fleet/app-{r:03d}")[0])
        manifest_rows, scans = [], []
        for i in range(images):
            repo_id = repo_ids[i % repos]
            layers = img.pool_image(rng, pool)
            body = img.image_manifest(config, [(d, 1000 + i) for d in layers],
                                      {"org.opencontainers.image.version": f"1.0.{i}"})
            digest = str(Digest.of(body))
            manifest_rows.append({
                "repository_id": repo_id, "digest": digest, "media_type": OCI_MANIFEST,
                "config_digest": str(Digest.of(config)),
                "config_media_type": "application/vnd.oci.image.config.v1+json",
                "size": len(body), "total_size": len(body) + 5000 * len(layers),
                "content": body, "pushed_at": now - rng.random() * 86400 * 90,
                "image_status": "ACTIVE"})
            scans.append({"repository_id": repo_id, "digest": digest, "scan_type": "ENHANCED",
                          "status": "ACTIVE", "description": CONTINUOUS_NOTE,
                          "requested_at": now, "completed_at": now, "counts": "{}",
                          "continuous": True})
        tx.executemany(manifests.insert(), manifest_rows)
        tx.executemany(scan_rows.image_scans.insert(), scans)


def _peak(scan: dict) -> float:
    """The scanning process's peak RSS while it scans: VmHWM reset before the scan when
    Linux allows it, else ru_maxrss (which includes the imports' peak)."""
    return scan["hwm_cold"] if scan["hwm_cold"] == scan["hwm_cold"] else scan["rss_cold"]


def _ratio(measured: float, target: float) -> str:
    return f"{measured / target:.2f}"


def _print_profile(title: str, text: str) -> None:
    if text:
        print(f"\n== cProfile: {title} ==")
        print(text)


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
    rid = registry.registry_id
    os_release, distro, ecosystem = img.host_distro()
    status = img.host_status(args.os_packages)
    host = img._dpkg_parse("var/lib/dpkg/status", status)
    required = img.essential(status)
    required_sources = sorted({pk.source_name or pk.name for pk in host if pk.name in required})
    print(f"host: {distro.pretty_name} ({ecosystem}), {len(host)} dpkg packages "
          f"({len(img.source_versions(host))} source packages, {len(required)} essential)")

    # -- advisories
    must = set(required_sources[:5])
    debian = img.debian_advisories(ecosystem, host, args.debian_advisories, must)
    debian_dir = img.write_records(data_dir / "osv" / "Debian", debian)
    imports = import_advisories(registry.db, debian_dir)
    for name, records, changed, spent in imports:
        print(f"import {name}: {records:,} advisories ({changed:,} stored) in {spent:.1f} s")
    import_total = sum(i[3] for i in imports)

    # -- the image
    started = time.perf_counter()
    files = {"etc/os-release": os_release, "var/lib/dpkg/status": status}
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

    scan = run_child({"kind": "scan", "data_dir": str(data_dir), "registry_id": rid,
                      "profile": args.profile,
                      "cold": {"repo_id": cold_repo, "repo": "bench/debian-app",
                               "digest": digest},
                      "warm": {"repo_id": warm_repo, "repo": "bench/debian-app-copy",
                               "digest": digest}})
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
    _print_profile("cold scan + record", scan["profile"])

    # -- the fleet and its rematches
    started = time.perf_counter()
    pool = img.layer_pool(args.pool_layers, os_release, host, required)
    fill_fleet(registry, pool, args.rematch_images, args.repos)
    kinds = Counter(layer.kind for layer in pool)
    print(f"\nfleet: {args.rematch_images:,} continuously scanned images in {args.repos} "
          f"repositories over {len(pool)} layer inventories ({dict(kinds)}; a base layer "
          f"holds {min(x.packages for x in pool if x.kind == 'base')}-"
          f"{max(x.packages for x in pool if x.kind == 'base')} dpkg packages) written in "
          f"{time.perf_counter() - started:.1f} s")
    rematch = {"kind": "rematch", "data_dir": str(data_dir), "profile": False}
    first = run_child(rematch)
    print(f"first match (every finding written): {first['seconds']:.1f} s, "
          f"{first['images']:,} images, {first['changed']:,} changed; scan {first['scan_s']:.1f} s "
          f"(matching {first['match_s']:.1f} s), record {first['record_s']:.1f} s; findings "
          f"{first['findings']}; peak RSS {first['rss_after']:.0f} MiB; database "
          f"{(data_dir / 'metadata.db').stat().st_size / 2**20:,.0f} MiB")

    target = next(r for r in debian if r["affected"][0]["package"]["name"] in must)
    changed_record = json.loads(json.dumps(target))
    changed_record["modified"] = "2099-02-01T00:00:00Z"
    events = changed_record["affected"][0]["ranges"][0]["events"]
    events[1]["fixed"] = events[1]["fixed"].replace("+bench1", "+bench2")
    changed_record["severity"] = [{"type": "CVSS_V3", "score": img.STRONG}]
    img.write_records(debian_dir, [changed_record])
    started = time.perf_counter()
    report = import_source(registry.db, debian_dir)
    print(f"re-import Debian with {target['id']} ({target['affected'][0]['package']['name']}, "
          f"in every image) changed: {report.changed} stored in "
          f"{time.perf_counter() - started:.2f} s")
    changed = run_child({**rematch, "profile": args.profile})
    print(f"rematch after one changed advisory: {changed['seconds']:.1f} s, "
          f"{changed['images']:,} images, {changed['changed']:,} changed; scan "
          f"{changed['scan_s']:.1f} s (merge {changed['merge_s']:.1f} s, matching "
          f"{changed['match_s']:.1f} s), record {changed['record_s']:.1f} s; peak RSS "
          f"{changed['rss_after']:.0f} MiB (VmRSS before {changed['rss_current']:.0f}, peak "
          f"during {changed['hwm']:.0f})")
    _print_profile("rematch after one changed advisory", changed["profile"])

    new = None
    if not args.no_new_advisory:
        source = target["affected"][0]["package"]["name"]
        fixed = target["affected"][0]["ranges"][0]["events"][1]["fixed"]
        fresh = img.debian_advisory(9999, ecosystem, source, fixed, "2099-03-01T00:00:00Z",
                                    img.MEDIUM)
        img.write_records(debian_dir, [fresh])
        report = import_source(registry.db, debian_dir)
        new = run_child(rematch)
        print(f"rematch after one new advisory ({fresh['id']}, {source}: every image "
              f"changes): {new['seconds']:.1f} s, {new['changed']:,} changed; scan "
              f"{new['scan_s']:.1f} s, record {new['record_s']:.1f} s; findings "
              f"{new['findings']}; peak RSS {new['rss_after']:.0f} MiB")
    registry.close()

    rows = [
        ("advisory import (PyPI, Go, crates.io, Debian)", f"{import_total:.1f} s", "-", "-"),
        (f"cold scan, {layer1.size / 2**20:.0f} MiB image, {scan['packages']} packages",
         f"{scan['cold_s']:.2f} s", f"{TARGETS['cold']:.0f} s",
         _ratio(scan["cold_s"], TARGETS["cold"])),
        ("  peak RSS of the scanning process", f"{_peak(scan):.0f} MiB",
         f"{TARGETS['rss']:.0f} MiB", _ratio(_peak(scan), TARGETS["rss"])),
        ("warm scan, same image, another repository", f"{scan['warm_s']:.2f} s",
         f"{TARGETS['warm']:.0f} s", _ratio(scan["warm_s"], TARGETS["warm"])),
        (f"rematch {args.rematch_images:,} images, one changed advisory",
         f"{changed['seconds']:.1f} s", f"{TARGETS['rematch']:.0f} s",
         _ratio(changed["seconds"], TARGETS["rematch"]))]
    if new is not None:
        rows.append((f"rematch {args.rematch_images:,} images, one new advisory (all change)",
                     f"{new['seconds']:.1f} s", f"{TARGETS['rematch']:.0f} s",
                     _ratio(new["seconds"], TARGETS["rematch"])))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':>10}  {'target':>8}  {'ratio':>5}")
    for figure, measured, goal, ratio in rows:
        print(f"{figure:<{width}}  {measured:>10}  {goal:>8}  {ratio:>5}")
    print(f"peak RSS (process, ru_maxrss): cold scan {scan['rss_cold']:.0f} MiB (before it "
          f"{scan['rss_before']:.0f}; VmHWM during the scan alone {scan['hwm_cold']:.0f}), "
          f"rematch {changed['rss_after']:.0f} MiB (before it {changed['rss_before']:.0f}; "
          f"during it {changed['hwm']:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
