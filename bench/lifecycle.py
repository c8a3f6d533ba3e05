"""Lifecycle policies at scale, in-process on the embedded SQLite: a preview of one repository
of --images images with five rules (ECR's target: under a second), and a run over --repos
repositories of --per-repo images each (time and peak RSS). Images are written straight into
the metadata tables (the evaluation reads nothing else), with varied tags and ages.

    .venv/bin/python -m bench.lifecycle [--images 10000] [--repos 100] [--per-repo 1000]"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.config import Settings  # noqa: E402
from berth.lifecycle.services import LifecycleService  # noqa: E402
from berth.lifecycle.tasks import run_due  # noqa: E402
from berth.storage.metadata import migrate  # noqa: E402
from berth.storage.metadata import repositories as repo_rows  # noqa: E402
from berth.storage.metadata.database import Database  # noqa: E402
from berth.storage.metadata.schema import manifests, tags  # noqa: E402

DAY = 86400.0
RULES = [  # five rules, every kind of selection
    {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan",
     "countNumber": 50},
    {"tagStatus": "tagged", "tagPatternList": ["release-*-rc*"], "countType": "sinceImagePushed",
     "countUnit": "days", "countNumber": 30},
    {"tagStatus": "tagged", "tagPrefixList": ["dev", "feature"], "countType": "sinceImagePushed",
     "countUnit": "days", "countNumber": 14},
    {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
     "countNumber": 7},
    {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 500},
]
POLICY = json.dumps({"rules": [{"rulePriority": i, "description": f"rule {i}",
                                "selection": s, "action": {"type": "expire"}}
                               for i, s in enumerate(RULES, 1)]})


def _tags_for(i: int, rng: random.Random) -> list[str]:
    kind = rng.random()
    if kind < 0.2:
        return []
    if kind < 0.4:
        return [f"prod-{i}"]
    if kind < 0.55:
        return [f"release-{i}-rc1"]
    if kind < 0.8:
        return [f"dev-{i}", f"feature-{i}"] if rng.random() < 0.5 else [f"dev-{i}"]
    return [f"v{i}", "latest"][: 1 + (i % 2 == 0 and rng.random() < 0.01)]


def fill(db: Database, name: str, count: int, now: float, seed: int) -> None:
    """A repository of ``count`` images pushed over the last 200 days."""
    rng = random.Random(seed)
    with db.write() as tx:
        repo_rows.create(tx, 1, name, "")
        repo_id = repo_rows.get_id(tx, 1, name)
        image_rows, tag_rows, seen = [], [], set()
        for i in range(count):
            digest = "sha256:" + hashlib.sha256(f"{name}/{i}".encode()).hexdigest()
            image_rows.append({"repository_id": repo_id, "digest": digest,
                               "media_type": "application/vnd.oci.image.manifest.v1+json",
                               "size": 500, "total_size": 5000, "content": b"{}",
                               "pushed_at": now - rng.random() * 200 * DAY,
                               "image_status": "ACTIVE"})
            for tag in _tags_for(i, rng):
                if tag not in seen:
                    seen.add(tag)
                    tag_rows.append({"repository_id": repo_id, "name": tag, "digest": digest,
                                     "updated_at": now})
        tx.executemany(manifests.insert(), image_rows)
        tx.executemany(tags.insert(), tag_rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--repos", type=int, default=100)
    p.add_argument("--per-repo", type=int, default=1000)
    p.add_argument("--previews", type=int, default=5, help="previews timed (median)")
    args = p.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="berth-bench-lifecycle-"))
    db = Database(Settings(data_dir=data_dir).database_url)
    migrate.upgrade(db)
    now = time.time()
    fill(db, "big", args.images, now, 1)
    service = LifecycleService(db, 1)
    service.put_policy("big", POLICY)
    times, selected = [], 0
    for _ in range(args.previews):
        started = time.perf_counter()
        _, verdicts = service.evaluate("big")
        times.append(time.perf_counter() - started)
        selected = len(verdicts)
    times.sort()
    print(f"preview of {args.images:,} images, 5 rules: median {times[len(times) // 2]:.3f} s "
          f"(min {times[0]:.3f}, max {times[-1]:.3f}); {selected:,} images selected")
    for r in range(args.repos):
        fill(db, f"team/app-{r}", args.per_repo, now, 100 + r)
        LifecycleService(db, 1).put_policy(f"team/app-{r}", POLICY)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    reports = run_due(db, 0.0)
    spent = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    expired = sum(len(r.expired) for r in reports)
    print(f"run over {len(reports)} repositories ({args.repos} x {args.per_repo:,} images + "
          f"the big one): {spent:.1f} s, {expired:,} images expired "
          f"({expired / spent:,.0f}/s); peak RSS {rss_after:.0f} MiB "
          f"(before the run {rss_before:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
