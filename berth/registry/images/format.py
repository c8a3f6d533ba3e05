"""Parsing and validating manifests against their media types (OCI image spec, Docker schema 2)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ManifestInvalid
from ..references import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = {OCI_MANIFEST, DOCKER_MANIFEST}
INDEX_TYPES = {OCI_INDEX, DOCKER_LIST}
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES

# Layers that registries are not expected to hold (they carry urls to fetch them elsewhere).
FOREIGN_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()

    @property
    def foreign(self) -> bool:
        return self.media_type in FOREIGN_LAYER_TYPES and bool(self.urls)


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def effective_artifact_type(self) -> str | None:
        """The referrers API's artifactType: explicit, else the config's media type."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def _fail(message: str, where: str) -> ManifestInvalid:
    return ManifestInvalid(f"{where}: {message}" if where else message, {"field": where})


def _string_map(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail("must be an object of strings", where)
    return value


def _optional_string(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _fail("must be a string", where)
    return value


def parse_descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _fail("must be a descriptor object", where)
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise _fail("mediaType is required", where)
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _fail("size must be a non-negative integer", where)
    raw_digest = value.get("digest")
    if not isinstance(raw_digest, str):
        raise _fail("digest is required", where)
    try:
        digest = Digest.parse(raw_digest)
    except Exception as exc:
        raise _fail(str(exc), where + ".digest") from None
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise _fail("urls must be a list of strings", where)
    return Descriptor(
        media_type=media_type, digest=digest, size=size,
        artifact_type=_optional_string(value.get("artifactType"), where + ".artifactType"),
        annotations=_string_map(value.get("annotations"), where + ".annotations"),
        urls=tuple(urls),
    )


def _descriptor_list(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise _fail("must be a list", where)
    return tuple(parse_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _fail("must be a string", "mediaType")
    content_type = (content_type or "").split(";")[0].strip() or None
    if content_type in MANIFEST_TYPES:
        if declared and declared != content_type:
            raise _fail(f"{declared!r} does not match Content-Type {content_type!r}", "mediaType")
        return content_type
    if declared in MANIFEST_TYPES:
        return declared
    if declared is None and content_type in (None, "application/json"):
        if "manifests" in doc:
            return OCI_INDEX
        if "config" in doc:
            return OCI_MANIFEST
    raise ManifestInvalid(
        f"unsupported manifest media type {declared or content_type!r}",
        {"mediaType": declared or content_type})


def _count_references(doc: dict[str, Any], max_references: int) -> None:
    """Refuse a manifest listing more than ``max_references`` descriptors (config, layers,
    subject, an index's manifests), counted before any is parsed or looked up."""
    count = sum(len(doc[key]) for key in ("layers", "manifests") if isinstance(doc.get(key), list))
    count += sum(1 for key in ("config", "subject") if doc.get(key))
    if count > max_references:
        raise ManifestInvalid(f"manifest references {count} blobs and manifests, the limit is "
                              f"{max_references}", {"references": count,
                                                    "limit": max_references})


def parse_manifest(body: bytes, content_type: str | None,
                   max_references: int | None = None) -> ParsedManifest:
    """The manifest, validated; ``max_references``: how many descriptors it may list."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise ManifestInvalid("manifest JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    if max_references is not None:
        _count_references(doc, max_references)
    try:  # JSON escapes can spell lone surrogates, which are not Unicode text
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestInvalid("manifest contains invalid Unicode (a lone surrogate)") from None
    if doc.get("schemaVersion") != 2 or isinstance(doc.get("schemaVersion"), bool):
        raise _fail("must be 2", "schemaVersion")
    media_type = _media_type(doc, content_type)
    common = dict(
        media_type=media_type,
        subject=parse_descriptor(doc["subject"], "subject") if doc.get("subject") else None,
        artifact_type=_optional_string(doc.get("artifactType"), "artifactType"),
        annotations=_string_map(doc.get("annotations"), "annotations"),
        raw=doc,
    )
    if media_type in INDEX_TYPES:
        return ParsedManifest(children=_descriptor_list(doc.get("manifests"), "manifests"),
                              **common)
    if "config" not in doc:
        raise _fail("config is required", "config")
    layers = doc.get("layers", [] if media_type == OCI_MANIFEST else None)
    parsed = ParsedManifest(config=parse_descriptor(doc["config"], "config"),
                            layers=_descriptor_list(layers, "layers"), **common)
    if media_type == DOCKER_MANIFEST and (parsed.subject or parsed.artifact_type):
        raise ManifestInvalid("Docker schema 2 manifests carry no subject or artifactType")
    return parsed
