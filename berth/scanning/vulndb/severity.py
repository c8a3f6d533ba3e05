"""The severity of an OSV advisory, as ECR reports it: a label (INFORMATIONAL, LOW, MEDIUM,
HIGH, CRITICAL or UNDEFINED) and, when it comes from a CVSS vector, its base score."""
from __future__ import annotations

from dataclasses import dataclass

import cvss
from cvss.exceptions import CVSSError

INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, UNDEFINED = (
    "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNDEFINED")

# The order CVSS types are preferred in: V3 is what ECR and most feeds score with; V4 only
# when nothing else is given (its scores run differently from V3's for the same flaw).
_CVSS_PREFERENCE = ("CVSS_V3", "CVSS_V2", "CVSS_V4")

# Qualitative ratings from the cvss library and databases' own words (GHSA: MODERATE).
_LABELS = {
    "NONE": INFORMATIONAL, "LOW": LOW, "MODERATE": MEDIUM, "MEDIUM": MEDIUM,
    "HIGH": HIGH, "CRITICAL": CRITICAL,
}


@dataclass(frozen=True)
class Severity:
    """``label`` as ECR names it; ``score`` the CVSS base score, ``vector`` the vector it was
    computed from and ``version`` its CVSS version ("2.0", "3.0", "3.1", "4.0"), all None
    when the label came from a database's own rating or there was none."""
    label: str
    score: float | None = None
    vector: str | None = None
    version: str | None = None


def severity_of(record: dict, affected: dict | None = None) -> Severity:
    """The severity of ``record`` for the package ``affected`` (one of its ``affected[]``
    objects): the preferred CVSS vector of the package, else of the record; else a
    database's rating (``ecosystem_specific``/``database_specific`` of the package, then of
    the record); else UNDEFINED. Malformed vectors and ratings are skipped, never raised."""
    affected = affected if isinstance(affected, dict) else {}
    for source in (affected, record):
        found = _from_cvss(source.get("severity"))
        if found is not None:
            return found
    for source in (affected.get("ecosystem_specific"), affected.get("database_specific"),
                   record.get("database_specific")):
        found = _from_rating(source)
        if found is not None:
            return found
    return Severity(UNDEFINED)


def _from_cvss(entries) -> Severity | None:
    if not isinstance(entries, list):
        return None
    vectors = [(entry.get("type"), entry.get("score")) for entry in entries
               if isinstance(entry, dict)]
    for wanted in _CVSS_PREFERENCE:
        for kind, vector in vectors:
            if kind == wanted and isinstance(vector, str):
                found = _score(kind, vector.strip())
                if found is not None:
                    return found
    return None


def _score(kind: str, vector: str) -> Severity | None:
    try:
        if kind == "CVSS_V4":
            parsed = cvss.CVSS4(vector)
            score, rating, version = float(parsed.base_score), parsed.severity, "4.0"
        elif kind == "CVSS_V3":
            parsed = cvss.CVSS3(vector)
            score, rating = float(parsed.scores()[0]), parsed.severities()[0]
            version = vector.split("/", 1)[0].removeprefix("CVSS:")
        else:
            parsed = cvss.CVSS2(vector)
            score, rating, version = float(parsed.scores()[0]), parsed.severities()[0], "2.0"
    except (CVSSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    # CVSS 2 has no "None" rating (the library calls 0.0 "Low"); ECR calls 0.0 informational.
    label = INFORMATIONAL if score == 0.0 else _LABELS.get(str(rating).upper())
    return None if label is None else Severity(label, score, vector, version)


def _from_rating(specific) -> Severity | None:
    if not isinstance(specific, dict):
        return None
    rating = specific.get("severity")
    label = _LABELS.get(rating.strip().upper()) if isinstance(rating, str) else None
    return None if label is None else Severity(label)
