"""An image's package inventory as a software bill of materials: a CycloneDX 1.6 or an SPDX
2.3 JSON document. Output is a function of the inputs alone (the timestamp is passed in,
identifiers are hashes or name-based UUIDs), so the same image gives the same bytes.

The documents are built as plain dicts: cyclonedx-python-lib's writer and spdx-tools'
converter take seconds for an image of a few thousand packages (the former is quadratic in
the component count). The tests validate every shape built here with both libraries."""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import orjson
from packageurl import PackageURL

from .inventory.image import ImageInventory
from .packages import OS, Distro, Package

FORMATS = ("cyclonedx", "spdx")
MEDIA_TYPES = {"cyclonedx": "application/vnd.cyclonedx+json", "spdx": "application/spdx+json"}

_CYCLONEDX_SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "berth:sbom")
_IMAGE_SPDXID = "SPDXRef-Image"
_NOASSERTION = "NOASSERTION"
_NOT_IN_SPDXID = re.compile(r"[^A-Za-z0-9.]+")  # hyphens too: runs collapse to one


@dataclass(frozen=True)
class Subject:
    """The image an SBOM describes. ``platforms``: (platform, inventory) pairs, the platform
    as "os/arch[/variant]" for an image index's children, "" for a single-platform image.
    ``created``: the document's timestamp (epoch seconds). ``registry``: the host[:port] the
    image is served from, for the image purl's ``repository_url`` (omitted when "")."""
    repository: str
    digest: str
    tags: tuple[str, ...]
    platforms: tuple[tuple[str, ImageInventory], ...]
    created: float
    tool_version: str
    registry: str = ""


@dataclass(frozen=True)
class _Row:
    """One entry of a document: a package, or the distribution, found on one platform.
    ``key`` is a hash of both, distinct for distinct rows."""
    platform: str
    item: Package | Distro
    key: str


def build(subject: Subject, fmt: str) -> dict:
    """The SBOM of ``subject`` in format ``fmt`` (one of FORMATS), as a JSON-ready dict."""
    if fmt == "cyclonedx":
        return _cyclonedx(subject)
    if fmt == "spdx":
        return _spdx(subject)
    raise ValueError(f"unknown SBOM format {fmt!r}: expected one of {', '.join(FORMATS)}")


def dumps(document: dict) -> bytes:
    """A document's JSON bytes, keys sorted (so equal documents give equal bytes)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


# -- shared -------------------------------------------------------------------------------
def _rows(subject: Subject) -> list[_Row]:
    """The distribution and the packages of each platform, in order; a package listed twice
    on one platform (same file, same layer, same fields) once."""
    rows: list[_Row] = []
    seen: set[str] = set()
    for platform, inventory in subject.platforms:
        items = ([inventory.distro] if inventory.distro else []) + list(inventory.packages)
        for item in items:
            key = _key(platform, item)
            if key not in seen:
                seen.add(key)
                rows.append(_Row(platform, item, key))
    return rows


def _key(platform: str, item: Package | Distro) -> str:
    fields = [platform, type(item).__name__, asdict(item)]
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _unique(candidate: str, used: set[str]) -> str:
    """``candidate``, or it suffixed with -2, -3, ... if already used; marked used."""
    value, n = candidate, 1
    while value in used:
        n += 1
        value = f"{candidate}-{n}"
    used.add(value)
    return value


def _timestamp(created: float) -> str:
    # whole seconds, UTC: SPDX's date format, and a valid xs:dateTime for CycloneDX
    return datetime.fromtimestamp(int(created), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serial(subject: Subject, fmt: str) -> uuid.UUID:
    return uuid.uuid5(_UUID_NAMESPACE, f"{fmt}:{subject.repository}@{subject.digest}")


def image_purl(subject: Subject) -> str:
    """The image's purl (the purl spec's ``oci`` type): the repository's last segment, the
    digest, and the repository URL and first tag as qualifiers."""
    qualifiers = {}
    if subject.registry:
        qualifiers["repository_url"] = f"{subject.registry}/{subject.repository}"
    if subject.tags:
        qualifiers["tag"] = subject.tags[0]
    name = subject.repository.rstrip("/").rpartition("/")[2]
    return PackageURL(type="oci", name=name.lower(), version=subject.digest,
                      qualifiers=qualifiers or None).to_string()


def _source(package: Package) -> tuple[str, str] | None:
    """An OS package's source package (name, version): its binary's where they agree."""
    if package.manager != OS:
        return None
    return package.source_name or package.name, package.source_version or package.version


# -- CycloneDX 1.6 ------------------------------------------------------------------------
def _cyclonedx(subject: Subject) -> dict:
    image = _cdx_image(subject)
    used = {image["bom-ref"]}
    components = [_cdx_component(row, used) for row in _rows(subject)]
    return {
        "$schema": _CYCLONEDX_SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": _serial(subject, "cyclonedx").urn,
        "version": 1,
        "metadata": {
            "timestamp": _timestamp(subject.created),
            "tools": {"components": [
                {"type": "application", "name": "berth", "version": subject.tool_version}]},
            "component": image,
        },
        "components": components,
        "dependencies": [{"ref": image["bom-ref"],
                          "dependsOn": [c["bom-ref"] for c in components]}],
    }


def _cdx_image(subject: Subject) -> dict:
    purl = image_purl(subject)
    properties = [("berth:tag", tag) for tag in subject.tags]
    properties += [("berth:platform", p) for p, _ in subject.platforms if p]
    return {"type": "container", "bom-ref": purl, "name": subject.repository,
            "version": subject.digest, "purl": purl, **_cdx_properties(properties)}


def _cdx_component(row: _Row, used: set[str]) -> dict:
    if isinstance(row.item, Distro):
        return _cdx_distro(row, row.item, used)
    p = row.item
    separator = "&" if "?" in p.purl else "?"
    ref = _unique(f"{p.purl}{separator}package-id={row.key}", used)
    source = _source(p)
    properties = [
        ("berth:ecosystem", p.ecosystem), ("berth:packageManager", p.manager),
        ("berth:filePath", p.path), ("berth:layerDigest", p.layer),
        ("berth:platform", row.platform), ("berth:arch", p.arch),
        ("berth:sourceName", source and source[0]),
        ("berth:sourceVersion", source and source[1]),
    ]
    component = {"type": "library", "bom-ref": ref, "name": p.name}
    if p.version:
        component["version"] = p.version
    if p.purl:
        component["purl"] = p.purl
    return {**component, **_cdx_properties(properties)}


def _cdx_distro(row: _Row, distro: Distro, used: set[str]) -> dict:
    component = {"type": "operating-system",
                 "bom-ref": _unique(f"os:{distro.id}?package-id={row.key}", used),
                 "name": distro.id}
    if distro.version_id:
        component["version"] = distro.version_id
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    return {**component, **_cdx_properties([("berth:platform", row.platform)])}


def _cdx_properties(pairs: list[tuple[str, str | None]]) -> dict:
    properties = [{"name": name, "value": value} for name, value in pairs if value]
    return {"properties": properties} if properties else {}


# -- SPDX 2.3 -----------------------------------------------------------------------------
def _spdx(subject: Subject) -> dict:
    used = {"SPDXRef-DOCUMENT", _IMAGE_SPDXID}
    packages = [_spdx_package(row, used) for row in _rows(subject)]
    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", _IMAGE_SPDXID)]
    relationships += [_relationship(_IMAGE_SPDXID, "CONTAINS", p["SPDXID"]) for p in packages]
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{subject.repository}@{subject.digest}",
        "documentNamespace": _serial(subject, "spdx").urn,
        "creationInfo": {"created": _timestamp(subject.created),
                         "creators": [f"Tool: berth-{subject.tool_version}"]},
        "packages": [_spdx_image(subject)] + packages,
        "relationships": relationships,
    }


def _spdx_image(subject: Subject) -> dict:
    return {**_spdx_common(_IMAGE_SPDXID, subject.repository, subject.digest),
            "externalRefs": [_purl_ref(image_purl(subject))],
            "primaryPackagePurpose": "CONTAINER"}


def _spdx_package(row: _Row, used: set[str]) -> dict:
    item = row.item
    if isinstance(item, Distro):
        spdxid = _spdxid("OperatingSystem", item.id, item.version_id, row.key, used)
        package = _spdx_common(spdxid, item.id, item.version_id)
        package["primaryPackagePurpose"] = "OPERATING_SYSTEM"  # the 2.3 JSON schema's spelling
        if item.pretty_name:
            package["description"] = item.pretty_name
        if row.platform:
            package["sourceInfo"] = f"platform {row.platform}"
        return package
    spdxid = _spdxid("Package", f"{item.ecosystem}-{item.name}", item.version, row.key, used)
    package = _spdx_common(spdxid, item.name, item.version)
    package["primaryPackagePurpose"] = "LIBRARY"
    package["sourceInfo"] = _source_info(row.platform, item)
    if item.purl:
        package["externalRefs"] = [_purl_ref(item.purl)]
    return package


def _spdx_common(spdxid: str, name: str, version: str) -> dict:
    package = {"SPDXID": spdxid, "name": name, "downloadLocation": _NOASSERTION,
               "filesAnalyzed": False, "licenseConcluded": _NOASSERTION,
               "licenseDeclared": _NOASSERTION, "copyrightText": _NOASSERTION}
    if version:
        package["versionInfo"] = version
    return package


def _spdxid(kind: str, name: str, version: str, key: str, used: set[str]) -> str:
    # an SPDXID is "SPDXRef-" and letters, digits, "." and "-" only; the key keeps it unique
    readable = _NOT_IN_SPDXID.sub("-", f"{name}-{version}" if version else name).strip("-")
    return _unique(f"SPDXRef-{kind}-{readable}-{key}", used)


def _source_info(platform: str, package: Package) -> str:
    text = f"acquired from file {package.path}"
    if package.layer:
        text += f" in layer {package.layer}"
    if platform:
        text += f" of platform {platform}"
    source = _source(package)
    if source:
        text += f"; source package {source[0]} {source[1]}"
    return text


def _purl_ref(purl: str) -> dict:
    # "PACKAGE-MANAGER" as the 2.3 JSON schema spells it (spdx-tools writes PACKAGE_MANAGER)
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
            "referenceLocator": purl}


def _relationship(element: str, kind: str, related: str) -> dict:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}
