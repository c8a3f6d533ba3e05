"""The admin operations of scanning (administrator account only): ImportVulnerabilities (OSV
files or folders, read where the operation runs: offline, the machine of ``berth admin``;
online, the server's), ListVulnerabilitySources, and ExportSbom (an image's SBOM, optionally
attached to it as a referrer)."""
from __future__ import annotations

from pathlib import Path

from ...registry.images.service import ImageId
from ...registry.registry import Registry
from ...scanning.exports import export_sbom
from ...scanning.images import NotAnImage
from ...scanning.sbom import FORMATS
from ...scanning.scanner import LayerFailed
from ...scanning.vulndb.osv import InvalidAdvisory
from .errors import validation_error
from .operations import Params, operation
from .registries import WHERE, registry_of
from .shapes import timestamp


@operation("ImportVulnerabilities", "berth:ImportVulnerabilities", {"Paths": True}, None,
           storage=True)
def import_vulnerabilities(registry: Registry, p: Params) -> dict:
    paths = [Path(line) for line in p["Paths"].splitlines() if line.strip()]
    missing = [str(path) for path in paths if not path.exists()]
    if not paths or missing:
        raise validation_error(f"no such file or folder: {', '.join(missing) or '(none given)'}")
    try:
        reports = registry.import_advisories(paths)
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
                        for s in registry.vulnerability_sources()]}


@operation("ExportSbom", "berth:ExportSbom",
           {**WHERE, "RepositoryName": True, "ImageTag": False, "ImageDigest": False,
            "Format": False, "Attach": False}, None, storage=True)
def export_sbom_operation(registry: Registry, p: Params) -> dict:
    fmt, attach = p.get("Format", "cyclonedx"), p.get("Attach", "false").lower()
    if fmt not in FORMATS:
        raise validation_error(f"Format must be one of {', '.join(FORMATS)}")
    if attach not in ("true", "false"):
        raise validation_error("Attach must be true or false")
    if "ImageTag" not in p and "ImageDigest" not in p:
        raise validation_error("give ImageTag or ImageDigest")
    try:
        found = export_sbom(registry_of(registry, p), p["RepositoryName"],
                            ImageId(p.get("ImageDigest"), p.get("ImageTag")), fmt,
                            attach == "true")
    except (NotAnImage, LayerFailed) as exc:
        raise validation_error(f"no SBOM: {exc}") from None
    return {"Document": found.document, "Referrer": found.referrer}
