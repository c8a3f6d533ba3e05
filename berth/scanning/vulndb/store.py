"""Importing OSV advisories into the metadata database: each source (an ``<Ecosystem>-all.zip``,
a folder or a file of OSV JSON) in one transaction, so a bad file changes nothing; records
whose ``modified`` time is unchanged are left as they are. What changed decides whether
continuously scanned images are matched again."""
from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from ...storage.metadata import vulndb as rows
from ...storage.metadata.database import Database, Tx
from ..findings import osv_time
from .osv import entries, read_records

BATCH = 500


@dataclass(frozen=True)
class SourceReport:
    name: str
    records: int
    changed: int
    updated_at: float | None


def source_name(path: Path) -> str:
    """"PyPI" for PyPI-all.zip (OSV's bulk file names), else the file or folder name."""
    name = path.name
    for suffix in ("-all.zip", ".zip", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def import_source(db: Database, path: Path, now: float | None = None) -> SourceReport:
    now = time.time() if now is None else now
    name = source_name(Path(path))
    count = changed = 0
    newest: float | None = None
    with db.write() as tx:
        batch: list[dict] = []
        for record in read_records(Path(path)):
            count += 1
            modified = _when(record)
            newest = modified if newest is None else max(newest, modified)
            batch.append(record)
            if len(batch) >= BATCH:
                changed += _store(tx, name, batch)
                batch = []
        changed += _store(tx, name, batch)
        rows.put_source(tx, name, newest or now, now, count)
    return SourceReport(name, count, changed, newest)


def _store(tx: Tx, source: str, batch: list[dict]) -> int:
    ids = [r["id"] for r in batch if isinstance(r.get("id"), str)]
    stored = rows.hashes(tx, ids) if ids else {}
    records, packages = [], []
    for record in {r.get("id"): r for r in batch}.values():  # a repeated id: the last wins
        vuln_id = record.get("id")
        if not isinstance(vuln_id, str) or not vuln_id:
            continue
        text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(text).hexdigest()
        if stored.get(vuln_id) == digest:
            continue
        records.append({"id": vuln_id, "modified": _when(record), "sha256": digest,
                        "source": source, "record": zlib.compress(text)})
        packages += [{"vuln_id": vuln_id, "position": i, "ecosystem": e.ecosystem,
                      "name": e.name} for i, e in enumerate(entries(record))]
    if records:
        rows.replace(tx, records, packages)
    return len(records)


def _when(record: dict) -> float:
    """When the advisory last changed: ``modified``, or ``published`` when that is later
    (Go's feed leaves ``modified`` at the zero time)."""
    return max(osv_time(record.get("modified")) or 0.0,
               osv_time(record.get("published")) or 0.0)


def sources(db: Database) -> list[dict]:
    with db.read() as tx:
        return [{"name": r.name, "updatedAt": r.updated_at, "importedAt": r.imported_at,
                 "records": r.records} for r in rows.sources(tx)]
