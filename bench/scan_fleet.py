"""The rematch half of bench/scanning.py: --rematch-images continuously scanned images written
straight into the tables (manifests of layers from a pool of --pool-layers stored layer
inventories, ACTIVE continuous scans), matched once, then rematched after one changed
advisory and after one new advisory that affects every image, each rematch in a fresh
process. Also the probes both of bench/scanning.py's child processes measure with: peak RSS,
time spent in a function, cProfile."""
from __future__ import annotations

import json
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from berth.app import open_registry
from berth.config import Settings
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.references import Digest
from berth.scanning.scanner import Limits, Scanner
from berth.scanning.services import CONTINUOUS_NOTE
from berth.scanning.vulndb.store import import_source
from berth.storage.metadata import repositories as repo_rows
from berth.storage.metadata import scanning as scan_rows
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import manifests

from bench import scan_image as img

MiB = 1024.0  # ru_maxrss is in KiB on Linux


# -- probes, in the child processes ---------------------------------------------------------
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


def profiled(enabled: bool, func):
    """``func()`` and, when ``enabled``, its cProfile top entries (else "")."""
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


def print_profile(title: str, text: str) -> None:
    if text:
        print(f"\n== cProfile: {title} ==")
        print(text)


# -- the rematch, in a child process --------------------------------------------------------
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

    (changed, spent), profile = profiled(p["profile"], run)
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


# -- the fleet, in the parent ---------------------------------------------------------------
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
        rows = [_image_rows(rng, pool, config, repo_ids[i % repos], i, now)
                for i in range(images)]
        tx.executemany(manifests.insert(), [manifest for manifest, _ in rows])
        tx.executemany(scan_rows.image_scans.insert(), [scan for _, scan in rows])


def _image_rows(rng: random.Random, pool: list[img.PoolLayer], config: bytes, repo_id: int,
                i: int, now: float) -> tuple[dict, dict]:
    """The manifest row and the continuous scan row of fleet image ``i``."""
    layers = img.pool_image(rng, pool)
    body = img.image_manifest(config, [(d, 1000 + i) for d in layers],
                              {"org.opencontainers.image.version": f"1.0.{i}"})
    digest = str(Digest.of(body))
    manifest = {
        "repository_id": repo_id, "digest": digest, "media_type": OCI_MANIFEST,
        "config_digest": str(Digest.of(config)),
        "config_media_type": "application/vnd.oci.image.config.v1+json",
        "size": len(body), "total_size": len(body) + 5000 * len(layers),
        "content": body, "pushed_at": now - rng.random() * 86400 * 90,
        "image_status": "ACTIVE"}
    scan = {"repository_id": repo_id, "digest": digest, "scan_type": "ENHANCED",
            "status": "ACTIVE", "description": CONTINUOUS_NOTE,
            "requested_at": now, "completed_at": now, "counts": "{}",
            "continuous": True}
    return manifest, scan


def build_fleet(registry, args, host: img.Host) -> None:
    started = time.perf_counter()
    pool = img.layer_pool(args.pool_layers, host.os_release, host.packages, host.required)
    fill_fleet(registry, pool, args.rematch_images, args.repos)
    kinds = Counter(layer.kind for layer in pool)
    print(f"\nfleet: {args.rematch_images:,} continuously scanned images in {args.repos} "
          f"repositories over {len(pool)} layer inventories ({dict(kinds)}; a base layer "
          f"holds {min(x.packages for x in pool if x.kind == 'base')}-"
          f"{max(x.packages for x in pool if x.kind == 'base')} dpkg packages) written in "
          f"{time.perf_counter() - started:.1f} s")


def change_advisory(db: Database, target: dict, folder: Path) -> None:
    """``target`` again, modified later, fixed one version on and rated critical."""
    changed_record = json.loads(json.dumps(target))
    changed_record["modified"] = "2099-02-01T00:00:00Z"
    events = changed_record["affected"][0]["ranges"][0]["events"]
    events[1]["fixed"] = events[1]["fixed"].replace("+bench1", "+bench2")
    changed_record["severity"] = [{"type": "CVSS_V3", "score": img.STRONG}]
    img.write_records(folder, [changed_record])
    started = time.perf_counter()
    report = import_source(db, folder)
    print(f"re-import Debian with {target['id']} ({target['affected'][0]['package']['name']}, "
          f"in every image) changed: {report.changed} stored in "
          f"{time.perf_counter() - started:.2f} s")


def new_advisory(db: Database, target: dict, folder: Path, ecosystem: str) -> dict:
    """A new advisory on ``target``'s package, fixed where ``target`` was first fixed."""
    source = target["affected"][0]["package"]["name"]
    fixed = target["affected"][0]["ranges"][0]["events"][1]["fixed"]
    fresh = img.debian_advisory(9999, ecosystem, source, fixed, "2099-03-01T00:00:00Z",
                                img.MEDIUM)
    img.write_records(folder, [fresh])
    import_source(db, folder)
    return fresh


def measure(registry, args, data_dir: Path, host: img.Host, target: dict, folder: Path,
            run_child: Callable[[dict], dict]) -> tuple[dict, dict | None]:
    """Builds the fleet and matches it once (every finding written), then rematches it after
    ``target`` (a Debian advisory in ``folder`` on a package of every image) changes and,
    unless --no-new-advisory, after a new one: (changed, new) as the children measured them."""
    build_fleet(registry, args, host)
    rematch = {"kind": "rematch", "data_dir": str(data_dir), "profile": False}
    first = run_child(rematch)
    print(f"first match (every finding written): {first['seconds']:.1f} s, "
          f"{first['images']:,} images, {first['changed']:,} changed; scan {first['scan_s']:.1f} s "
          f"(matching {first['match_s']:.1f} s), record {first['record_s']:.1f} s; findings "
          f"{first['findings']}; peak RSS {first['rss_after']:.0f} MiB; database "
          f"{(data_dir / 'metadata.db').stat().st_size / 2**20:,.0f} MiB")

    change_advisory(registry.db, target, folder)
    changed = run_child({**rematch, "profile": args.profile})
    print(f"rematch after one changed advisory: {changed['seconds']:.1f} s, "
          f"{changed['images']:,} images, {changed['changed']:,} changed; scan "
          f"{changed['scan_s']:.1f} s (merge {changed['merge_s']:.1f} s, matching "
          f"{changed['match_s']:.1f} s), record {changed['record_s']:.1f} s; peak RSS "
          f"{changed['rss_after']:.0f} MiB (VmRSS before {changed['rss_current']:.0f}, peak "
          f"during {changed['hwm']:.0f})")
    print_profile("rematch after one changed advisory", changed["profile"])
    if args.no_new_advisory:
        return changed, None

    fresh = new_advisory(registry.db, target, folder, host.ecosystem)
    new = run_child(rematch)
    print(f"rematch after one new advisory ({fresh['id']}, "
          f"{fresh['affected'][0]['package']['name']}: every image "
          f"changes): {new['seconds']:.1f} s, {new['changed']:,} changed; scan "
          f"{new['scan_s']:.1f} s, record {new['record_s']:.1f} s; findings "
          f"{new['findings']}; peak RSS {new['rss_after']:.0f} MiB")
    return changed, new
