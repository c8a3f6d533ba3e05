"""ECR's two shapes of a finding, rendered from what a scan stored (berth.scanning.findings):
basic (``ImageScanFinding``: name, uri, severity, attributes) and enhanced
(``EnhancedImageScanFinding``: Amazon Inspector's package vulnerability finding)."""
from __future__ import annotations

import json

from .access import Target

OSV_URL = "https://osv.dev/vulnerability/"


def basic(row) -> dict:
    d = json.loads(row.detail)
    package = d["package"]
    attributes = [{"key": "package_version", "value": package["version"]},
                  {"key": "package_name", "value": package["name"]}]
    if d.get("vector"):
        major = (d.get("cvss") or "3").split(".")[0]
        attributes += [{"key": f"CVSS{major}_VECTOR", "value": d["vector"]},
                       {"key": f"CVSS{major}_SCORE", "value": f"{d['score']}"}]
    return {"name": d["name"], "description": d["details"] or d["summary"],
            "uri": OSV_URL + d["id"], "severity": row.severity, "attributes": attributes}


def enhanced(target: Target, repository: str, digest: str, tags: list[str], pushed_at,
             row) -> dict:
    d = json.loads(row.detail)
    address = target.address
    cvss = ([{"baseScore": d["score"], "scoringVector": d["vector"], "source": _source(d),
              "version": d["cvss"]}] if d.get("vector") else [])
    finding = {
        "awsAccountId": address.account_id, "description": d["details"] or d["summary"],
        "findingArn": (f"arn:aws:inspector2:{address.region}:{address.account_id}:finding/"
                       f"{row.key[:32]}"),
        "firstObservedAt": row.first_observed_at, "lastObservedAt": row.last_observed_at,
        "updatedAt": row.updated_at,
        "packageVulnerabilityDetails": {
            "cvss": cvss, "referenceUrls": d["references"],
            "relatedVulnerabilities": d["aliases"], "source": _source(d),
            "sourceUrl": OSV_URL + d["id"], "vendorCreatedAt": d.get("published"),
            "vendorSeverity": row.severity, "vendorUpdatedAt": d.get("modified"),
            "vulnerabilityId": d["name"], "vulnerablePackages": [_package(d)]},
        "remediation": {"recommendation": {"text": _advice(d), "url": OSV_URL + d["id"]}},
        "resources": [_resource(target, repository, digest, tags, pushed_at, d)],
        "score": d.get("score"), "severity": row.severity, "status": row.status,
        "title": f"{d['name']} - {d['package']['name']}", "type": "PACKAGE_VULNERABILITY",
        "fixAvailable": "YES" if d.get("fixedIn") else "NO", "exploitAvailable": "NO",
    }
    if d.get("vector"):
        finding["scoreDetails"] = {"cvss": {"score": d["score"], "scoreSource": _source(d),
                                            "scoringVector": d["vector"],
                                            "version": d["cvss"], "adjustments": []}}
    return finding


def _source(d: dict) -> str:
    """The database the advisory comes from, by its id's prefix (GHSA, PYSEC, GO, RUSTSEC...)."""
    return d["id"].split("-", 1)[0]


def _package(d: dict) -> dict:
    p = d["package"]
    found = {"name": p["name"], "version": p["version"], "packageManager": p["manager"],
             "filePath": p["path"], "sourceLayerHash": p.get("layer") or None}
    if p.get("arch"):
        found["arch"] = p["arch"]
    if d.get("fixedIn"):
        found["fixedInVersion"] = d["fixedIn"]
    return found


def _advice(d: dict) -> str:
    name = d["package"]["name"]
    if d.get("fixedIn"):
        return f"Upgrade {name} to version {d['fixedIn']} or later."
    return f"None provided: no fixed version of {name} is known."


def _resource(target: Target, repository: str, digest: str, tags: list[str], pushed_at,
              d: dict) -> dict:
    platform = d.get("platform") or ""
    image = {"imageHash": digest, "imageTags": tags, "pushedAt": pushed_at,
             "registry": target.address.account_id, "repositoryName": repository}
    if platform:
        image["platform"] = platform
        image["architecture"] = platform.split("/")[1] if "/" in platform else platform
    return {"id": f"{target.address.repository_arn(repository)}/{digest}",
            "type": "AWS_ECR_CONTAINER_IMAGE", "details": {"awsEcrContainerImage": image}}
