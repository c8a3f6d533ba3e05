"""A finding: one advisory affecting one package found in one file of an image (for one
platform of an index). What is stored of it (``detail``) is what both of ECR's finding
shapes, basic and enhanced, are rendered from."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from .packages import Package
from .vulndb.severity import Severity

SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")


def advisory_fields(vuln_id: str, record: dict) -> dict:
    """What a finding shows of its advisory (computed once per advisory, shared by all the
    findings it makes)."""
    aliases = [a for a in record.get("aliases") or () if isinstance(a, str)]
    return {
        "id": vuln_id,
        "name": display_name(vuln_id, aliases),
        "summary": _text(record.get("summary")) or _first_line(record.get("details")),
        "details": _text(record.get("details")) or _text(record.get("summary")),
        "aliases": aliases,
        "references": [ref["url"] for ref in record.get("references") or ()
                       if isinstance(ref, dict) and isinstance(ref.get("url"), str)][:20],
        "published": osv_time(record.get("published")),
        "modified": osv_time(record.get("modified")),
    }


@dataclass(frozen=True)
class Finding:
    vuln_id: str
    package: Package
    fixed_in: str | None
    severity: Severity
    platform: str
    advisory: dict  # advisory_fields of the advisory

    @property
    def key(self) -> str:
        p = self.package
        text = "\0".join((self.vuln_id, p.ecosystem, p.name, p.version, p.path, self.platform))
        return hashlib.sha256(text.encode()).hexdigest()

    def detail(self) -> dict:
        s = self.severity
        return {
            **self.advisory,
            "package": self.package.to_json(), "fixedIn": self.fixed_in,
            "platform": self.platform,
            "severity": s.label, "score": s.score, "vector": s.vector, "cvss": s.version,
        }


def display_name(vuln_id: str, aliases: list[str]) -> str:
    """ECR names findings by CVE: the advisory's CVE alias when it has one."""
    if vuln_id.startswith("CVE-"):
        return vuln_id
    return next((a for a in aliases if a.startswith("CVE-")), vuln_id)


def counts(severities: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for label in severities:
        found[label] = found.get(label, 0) + 1
    return {k: found[k] for k in SEVERITY_ORDER if k in found}


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _first_line(value) -> str:
    return _text(value).split("\n", 1)[0][:300]


def osv_time(value) -> float | None:
    """An OSV RFC 3339 time as epoch seconds (None if absent, unreadable or the zero time)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return when if when > 0 else None  # Go's feed writes the zero time for "unknown"
