"""Data sets for the gc setups, built in-process with Berth's own code (run with Berth's
python: `python -m bench.gc_data build|check ...`, settings as `berth serve` flags and
BERTH_* / AWS_* variables).

build: N blobs in R repositories, in images of L blobs (a config and L-1 layers). A blob's
bytes go through the registry's driver (sealed for AES256 repositories, fsynced or PUT to
S3) from a thread pool; its object and link rows are inserted in bulk, as a push leaves them
(object held, link waiting for a manifest). Then every image's manifest is put through
ManifestService.put; every other image (the garbage fraction) is deleted again through
ManifestService.delete, and the outbox is delivered to the gc subscriber, which starts the
deleted images' links' grace period (as a running server would). Prints a JSON summary and
writes the keys that must survive a sweep to --expect.

check: walks the storage and counts the rows; compares the stored keys with --expect.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from berth.app import open_registry
from berth.config import load_settings
from berth.events import Outbox
from berth.gc import subscriber as gc_subscriber
from berth.gc.collector import object_key
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import blobs, manifests, repository_blobs
from berth.registry.repositories import create_from
from berth.storage.metadata.statements import insert
from sqlalchemy import func, select

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ROW_BATCH = 5000
SETTINGS = ("data_dir", "database", "storage", "s3_endpoint_url", "s3_region")


def blob(seed: int, i: int, size: int) -> tuple[str, bytes]:
    data = struct.pack(">QQ", seed, i) + os.urandom(max(0, size - 16))
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def manifest(descriptors: list[tuple[str, int]]) -> bytes:
    def d(media_type: str, digest: str, size: int) -> dict:
        return {"mediaType": media_type, "digest": digest, "size": size}
    (cfg, cfg_size), layers = descriptors[0], descriptors[1:]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": d(OCI_CONFIG, cfg, cfg_size),
                       "layers": [d(OCI_LAYER, dg, n) for dg, n in layers]},
                      separators=(",", ":")).encode()


class Builder:
    def __init__(self, registry, a: argparse.Namespace):
        self.registry, self.a = registry, a
        self.db = registry.db
        self.repos = [f"gc/r{r:03d}" for r in range(a.repos)]

    def run(self) -> dict:
        a, t0 = self.a, time.monotonic()
        images = [list(range(i, min(i + a.layers, a.blobs))) for i in range(0, a.blobs, a.layers)]
        garbage = {j for j in range(len(images)) if self._is_garbage(j)}
        self.ids, self.refs = self._create_repositories()
        digests: list[str] = [""] * a.blobs
        with ThreadPoolExecutor(a.threads) as pool:
            for start in range(0, a.blobs, ROW_BATCH):
                batch = list(range(start, min(start + ROW_BATCH, a.blobs)))
                made = list(pool.map(self._store, batch))
                self._insert(made)
                for i, (digest, *_rest) in zip(batch, made):
                    digests[i] = digest
        t_blobs = time.monotonic() - t0
        kept = self._manifests(images, garbage, digests)
        delivered = Outbox(self.db).deliver(gc_subscriber.subscriber())
        Path(a.expect).write_text("".join(k + "\n" for k in sorted(kept)))
        return {"blobs": a.blobs, "kept": len(kept), "garbage": a.blobs - len(kept),
                "images": len(images), "deleted_images": len(garbage),
                "events_delivered": delivered, "blob_seconds": round(t_blobs, 1),
                "build_seconds": round(time.monotonic() - t0, 1)}

    def _is_garbage(self, image: int) -> bool:
        """Evenly spread: image j is garbage when floor((j+1)*f) > floor(j*f)."""
        f = self.a.garbage
        return int((image + 1) * f) > int(image * f)

    def _repo_of(self, image: int) -> int:
        return image % len(self.repos)

    def _create_repositories(self) -> tuple[list[int], list[str]]:
        """(id, key ref) of each repository, made with the defaults."""
        made = []
        with self.db.write() as tx:
            for name in self.repos:
                made.append(create_from(tx, self.registry.registry_id, name, None,
                                        self.registry.encryption))
        return [m[0] for m in made], [m[1] for m in made]

    def _store(self, i: int) -> tuple[str, int, int, str]:
        """Blob i's bytes through the driver: (digest, size, repository index, key ref)."""
        repo = self._repo_of(i // self.a.layers)
        digest, data = blob(self.a.seed, i, self.a.blob_bytes)
        self.registry.driver.put(object_key(self.refs[repo], digest), data)
        return digest, len(data), repo, self.refs[repo]

    def _insert(self, made) -> None:
        now = time.time()
        objects = [{"key_ref": ref, "digest": d, "size": n, "created_at": now,
                    "unreferenced_since": None} for d, n, _, ref in made]
        links = [{"repository_id": self.ids[r], "digest": d, "size": n, "created_at": now,
                  "unreferenced_since": now} for d, n, r, _ in made]
        with self.db.write() as tx:
            cols = ("created_at", "size", "digest", "unreferenced_since")
            tx.executemany(insert(tx.dialect_name, blobs, "key_ref", *cols), objects)
            tx.executemany(insert(tx.dialect_name, repository_blobs, "repository_id", *cols),
                           links)

    def _manifests(self, images, garbage: set[int], digests: list[str]) -> set[str]:
        """Every image's manifest put (it lists its links), every garbage one deleted again;
        the keys of the kept blobs."""
        kept, ms = set(), self.registry.manifests
        for j, members in enumerate(images):
            r = self._repo_of(j)
            body = manifest([(digests[i], self.a.blob_bytes) for i in members])
            result = ms.put(self.repos[r], f"i{j:06d}", body, OCI_MANIFEST)
            if j in garbage:
                ms.delete(self.repos[r], str(result.digest))
            else:
                kept.update(object_key(self.refs[r], digests[i]) for i in members)
        return kept


def check(registry, expect: str) -> dict:
    """Stored keys against the expected ones, and the rows left."""
    wanted = set(Path(expect).read_text().split())
    stored = unexpected = 0
    for obj in registry.driver.walk():
        stored += 1
        if obj.key in wanted:
            wanted.discard(obj.key)
        else:
            unexpected += 1
    with registry.db.read() as tx:
        rows = {t.name: tx.scalar(select(func.count().label("n")).select_from(t))
                for t in (blobs, repository_blobs, manifests)}
    return {"stored": stored, "missing": len(wanted), "unexpected": unexpected, "rows": rows}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["build", "check"])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--database")
    p.add_argument("--storage")
    p.add_argument("--s3-endpoint-url")
    p.add_argument("--s3-region")
    p.add_argument("--expect", required=True, help="file of the keys a sweep must keep")
    p.add_argument("--blobs", type=int, default=100_000)
    p.add_argument("--garbage", type=float, default=0.5, help="fraction of images deleted")
    p.add_argument("--blob-bytes", type=int, default=512)
    p.add_argument("--layers", type=int, default=100, help="blobs per image")
    p.add_argument("--repos", type=int, default=10)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    settings = load_settings(flags={k: getattr(a, k) for k in SETTINGS})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)  # as `berth serve` does before it opens the registry
    finally:
        db.dispose()
    registry, _ = open_registry(settings)
    try:
        out = Builder(registry, a).run() if a.command == "build" else check(registry, a.expect)
    finally:
        registry.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
