"""Matching an image's packages against the stored advisories: basic scans look at the
operating system's packages, enhanced ones at every package. OS advisories name source
packages of a distribution release ("Debian:12", "openssl"), language advisories packages of
an ecosystem ("PyPI", "requests")."""
from __future__ import annotations

import hashlib
import threading
import zlib
from collections import OrderedDict, defaultdict

import orjson

from ..storage.metadata import vulndb as rows
from ..storage.metadata.database import Tx
from .configuration import BASIC
from .findings import Finding, advisory_fields
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
                    platform: str = "", cache: "AdvisoryCache | None" = None) -> list[Finding]:
    os_ecosystem = osv_ecosystem(inventory.distro) if inventory.distro else None
    wanted: dict[tuple[str, str], list[tuple[str, Package]]] = defaultdict(list)
    for package in inventory.packages:
        if scan_type == BASIC and package.manager != OS:
            continue
        query = _query(package, os_ecosystem)
        if query is not None:
            wanted[query[:2]].append((query[2], package))
    findings = []
    cache = AdvisoryCache() if cache is None else cache
    for (ecosystem, name), advisory, position in cache.candidates(tx, wanted):
        for version, package in wanted[(ecosystem, name)]:
            hit = advisory.match(ecosystem, name, position, version)
            if hit is not None:
                fixed_in, severity = hit
                findings.append(Finding(advisory.id, package, fixed_in, severity, platform,
                                        advisory.fields))
    return _unique(findings)


class Advisory:
    """A stored advisory as matching uses it, kept per content hash: a rematch of thousands
    of images asks the same advisories about the same versions again and again."""

    def __init__(self, vuln_id: str, record: dict):
        self.id, self.record = vuln_id, record
        self.entries = entries(record)
        self.fields = advisory_fields(vuln_id, record)
        self._verdicts: dict[tuple[int, str], tuple | None] = {}

    def match(self, ecosystem: str, name: str, position: int, version: str):
        """(fixed in, severity) if ``version`` of the package at ``position`` is affected."""
        key = (position, version)
        if key not in self._verdicts:
            self._verdicts[key] = self._decide(ecosystem, name, position, version)
        return self._verdicts[key]

    def _decide(self, ecosystem: str, name: str, position: int, version: str):
        if position >= len(self.entries) or self.entries[position].name != name:
            return None
        affected = self.entries[position].affected
        hit = match(ecosystem, version, affected)
        return None if hit is None else (hit.fixed_in, severity_of(self.record, affected))


class AdvisoryCache:
    """Advisories read from the database, by content hash (a changed one is read again),
    the most recently used ``size`` of them; safe to share between threads."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._found: OrderedDict[str, Advisory] = OrderedDict()
        self._lock = threading.Lock()

    def candidates(self, tx: Tx, wanted: dict[tuple[str, str], list]):
        """((ecosystem, name), advisory, position) of every advisory entry naming a package
        of ``wanted``."""
        by_ecosystem: dict[str, list[str]] = defaultdict(list)
        for ecosystem, name in wanted:
            by_ecosystem[ecosystem].append(name)
        hits = []
        for ecosystem, names in by_ecosystem.items():
            for start in range(0, len(names), QUERY_BATCH):
                for row in rows.affecting(tx, ecosystem, names[start:start + QUERY_BATCH]):
                    hits.append(((ecosystem, row.name), row.vuln_id, row.position, row.sha256))
        with self._lock:
            known = {h[3]: self._found.get(h[3]) for h in hits}
        missing = sorted({h[1] for h in hits if known[h[3]] is None})
        for vuln_id, compressed in (rows.records(tx, missing) if missing else {}).items():
            text = zlib.decompress(compressed)  # stored as its hash was taken: sorted JSON
            digest = hashlib.sha256(text).hexdigest()
            known[digest] = self._remember(digest, Advisory(vuln_id, orjson.loads(text)))
        for key, vuln_id, position, sha256 in hits:
            if known.get(sha256) is not None:
                yield key, known[sha256], position

    def _remember(self, sha256: str, advisory: Advisory) -> Advisory:
        with self._lock:
            self._found[sha256] = advisory
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return advisory


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per key (an advisory may list a package in two affected entries)."""
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.key, finding)
    return list(seen.values())
