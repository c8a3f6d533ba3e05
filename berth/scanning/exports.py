"""An image's SBOM (``berth admin sbom``): its inventory per platform, as the scanner reads it
(layers' stored inventories, else the layers), written as CycloneDX or SPDX; optionally kept
beside the image as an OCI referrer (an artifact manifest whose subject is the image, its one
layer the document), so ``oras discover`` and the referrers API list it, and it goes with the
image when the image is deleted or archived."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version

from packageurl import PackageURL

from ..registry.images.service import ImageId
from ..registry.images.storage_class import resolve_digest
from ..registry.references import Digest
from ..registry.registry import Registry
from ..registry.repositories.service import require_id
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import tags as tag_rows
from .images import platforms
from .inventory.image import ImageInventory
from .packages import OS
from .sbom import MEDIA_TYPES, Subject, build, dumps
from .scanner import Scanner

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Export:
    document: dict
    referrer: str | None  # the digest of the referrer it was attached as


def export_sbom(registry: Registry, repository: str, image_id: ImageId, fmt: str,
                attach: bool = False, host: str = "") -> Export:
    with registry.db.read() as tx:
        repo_id = require_id(tx, registry.registry_id, repository)
        digest = resolve_digest(tx, repo_id, image_id)
        tags = tag_rows.names_for(tx, repo_id, [digest]).get(digest, [])
        head = manifest_rows.get(tx, repo_id, digest)
    scanner, blobs = Scanner(registry), registry.blobs
    found = platforms(registry.db, repo_id, digest)
    inventories = tuple(
        (scanner.platform_name(blobs, repository, p) if len(found) > 1 else "",
         with_distro(scanner.inventory(blobs, repository, p))) for p in found)
    document = build(Subject(repository, digest, tuple(tags), inventories, time.time(),
                             _version(), host), fmt)
    referrer = _attach(registry, repository, (digest, head.media_type, head.size), fmt,
                       document) if attach else None
    return Export(document, referrer)


def with_distro(inventory: ImageInventory) -> ImageInventory:
    """OS packages' purls as the purl spec writes them once the distribution is known: its id
    as the namespace (a dpkg database reads the same on Debian and Ubuntu) and a ``distro``
    qualifier ("debian-12")."""
    distro = inventory.distro
    if distro is None:
        return inventory
    packages = []
    for package in inventory.packages:
        if package.manager == OS and package.purl.startswith(("pkg:deb/", "pkg:apk/", "pkg:rpm/")):
            purl = PackageURL.from_string(package.purl)
            qualifiers = {**(purl.qualifiers or {}), "distro": f"{distro.id}-{distro.version_id}"}
            package = replace(package, purl=purl._replace(
                namespace=distro.id, qualifiers=qualifiers).to_string())
        packages.append(package)
    return ImageInventory(packages, distro)


def _version() -> str:
    try:
        return version("berth")
    except PackageNotFoundError:  # run from a source tree without installing it
        return "0"


def _attach(registry: Registry, repository: str, subject: tuple[str, str, int], fmt: str,
            document: dict) -> str:
    """Store the document as a referrer of ``subject`` (digest, media type, size)."""
    body = dumps(document)
    for data in (EMPTY, body):
        registry.uploads.put_small(repository, Digest.of(data, "sha256"), data)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": MEDIA_TYPES[fmt],
        "config": {"mediaType": EMPTY_TYPE, "digest": str(Digest.of(EMPTY, "sha256")),
                   "size": len(EMPTY)},
        "layers": [{"mediaType": MEDIA_TYPES[fmt], "digest": str(Digest.of(body, "sha256")),
                    "size": len(body),
                    "annotations": {"org.opencontainers.image.title": f"sbom.{fmt}.json"}}],
        "subject": {"mediaType": subject[1], "digest": subject[0], "size": subject[2]},
        "annotations": {"org.opencontainers.image.created": document_time(document)},
    }, separators=(",", ":")).encode()
    result = registry.manifests.put(repository, None, manifest, OCI_MANIFEST, create=False)
    return str(result.digest)


def document_time(document: dict) -> str:
    return (document.get("metadata") or {}).get("timestamp") or \
        (document.get("creationInfo") or {}).get("created", "")
