"""The admin operations on the vulnerability database (administrator account only):
ImportVulnerabilities (OSV files or folders, read where the operation runs: offline, the
machine of ``berth admin``; online, the server's) and ListVulnerabilitySources."""
from __future__ import annotations

from pathlib import Path

from ...registry.registry import Registry
from ...scanning.services import import_advisories
from ...scanning.vulndb.osv import InvalidAdvisory
from ...scanning.vulndb.store import sources
from .errors import validation_error
from .operations import Params, operation
from .shapes import timestamp


@operation("ImportVulnerabilities", "berth:ImportVulnerabilities", {"Paths": True}, None,
           storage=True)
def import_vulnerabilities(registry: Registry, p: Params) -> dict:
    paths = [Path(line) for line in p["Paths"].splitlines() if line.strip()]
    missing = [str(path) for path in paths if not path.exists()]
    if not paths or missing:
        raise validation_error(f"no such file or folder: {', '.join(missing) or '(none given)'}")
    try:
        reports = import_advisories(registry.db, paths)
    except InvalidAdvisory as exc:
        raise validation_error(f"not an OSV advisory: {exc}") from None
    return {"Sources": [{"Name": r.name, "Records": r.records, "Changed": r.changed,
                         "UpdatedAt": timestamp(r.updated_at) if r.updated_at else None}
                        for r in reports]}


@operation("ListVulnerabilitySources", "berth:ListVulnerabilitySources", {}, None,
           storage=True)
def list_vulnerability_sources(registry: Registry, p: Params) -> dict:
    return {"Sources": [{"Name": s["name"], "Records": s["records"],
                         "UpdatedAt": timestamp(s["updatedAt"]),
                         "ImportedAt": timestamp(s["importedAt"])}
                        for s in sources(registry.db)]}
