"""Matching an image's packages against the stored advisories: basic scans look at the
operating system's packages, enhanced ones at every package. OS advisories name source
packages of a distribution release ("Debian:12", "openssl"), language advisories packages of
an ecosystem ("PyPI", "requests")."""
from __future__ import annotations

import zlib
from collections import defaultdict
from functools import lru_cache

import orjson

from ..storage.metadata import vulndb as rows
from ..storage.metadata.database import Tx
from .configuration import BASIC
from .findings import Finding
from .inventory.distro import osv_ecosystem
from .inventory.image import ImageInventory
from .packages import OS, Package
from .vulndb.matching import match
from .vulndb.osv import entries, normalize_name
from .vulndb.severity import severity_of

QUERY_BATCH = 500


def _query(package: Package, os_ecosystem: str | None) -> tuple[str, str, str] | None:
    """(ecosystem, name, version) as advisories name this package, or None."""
    if package.manager == OS:
        if os_ecosystem is None:
            return None
        return (os_ecosystem, package.source_name or package.name,
                package.source_version or package.version)
    return package.ecosystem, normalize_name(package.ecosystem, package.name), package.version


def match_inventory(tx: Tx, inventory: ImageInventory, scan_type: str,
                    platform: str = "") -> list[Finding]:
    os_ecosystem = osv_ecosystem(inventory.distro) if inventory.distro else None
    wanted: dict[tuple[str, str], list[tuple[str, Package]]] = defaultdict(list)
    for package in inventory.packages:
        if scan_type == BASIC and package.manager != OS:
            continue
        query = _query(package, os_ecosystem)
        if query is not None:
            wanted[query[:2]].append((query[2], package))
    findings = []
    for (ecosystem, name), vuln_id, position, record in _candidates(tx, wanted):
        entry = entries(record)
        if position >= len(entry) or entry[position].name != name:
            continue
        affected = entry[position].affected
        for version, package in wanted[(ecosystem, name)]:
            hit = match(ecosystem, version, affected)
            if hit is not None:
                findings.append(Finding(vuln_id, package, hit.fixed_in,
                                        severity_of(record, affected), platform, record))
    return _unique(findings)


def _candidates(tx: Tx, wanted: dict[tuple[str, str], list]):
    by_ecosystem: dict[str, list[str]] = defaultdict(list)
    for ecosystem, name in wanted:
        by_ecosystem[ecosystem].append(name)
    hits = []
    for ecosystem, names in by_ecosystem.items():
        for start in range(0, len(names), QUERY_BATCH):
            for row in rows.affecting(tx, ecosystem, names[start:start + QUERY_BATCH]):
                hits.append(((ecosystem, row.name), row.vuln_id, row.position))
    stored = rows.records(tx, sorted({h[1] for h in hits})) if hits else {}
    for key, vuln_id, position in hits:
        if vuln_id in stored:
            yield key, vuln_id, position, _record(stored[vuln_id])


@lru_cache(maxsize=8192)
def _record(compressed: bytes) -> dict:
    """Parsed once per distinct stored record (a rematch of many images reads the same
    advisories again and again)."""
    return orjson.loads(zlib.decompress(compressed))


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per key (an advisory may list a package in two affected entries)."""
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.key, finding)
    return list(seen.values())
