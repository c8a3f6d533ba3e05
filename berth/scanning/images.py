"""What a scan reads of an image: each platform's image manifest (one, or every child of an
index), its config (for the platform) and its layers in order. Anything else (an artifact, a
signature, an SBOM) is not an image a scan can read."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..registry.images.format import parse_manifest
from ..storage.metadata import scanning as rows
from ..storage.metadata.database import Database

IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json",
                           "application/vnd.docker.container.image.v1+json"})
LAYER_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar"})
MAX_CONFIG = 4 << 20


class NotAnImage(ValueError):
    """The manifest is not a container image (or index of them) a scan can read."""


@dataclass(frozen=True)
class Platform:
    digest: str                  # the image manifest's
    config: str                  # its config blob's digest
    layers: tuple[str, ...]      # layer digests, lowest first
    name: str = ""               # "linux/amd64" once the config is read


def platforms(db: Database, repo_id: int, digest: str) -> list[Platform]:
    """The image manifests a scan of ``digest`` reads; NotAnImage if there are none."""
    with db.read() as tx:
        row = rows.manifest(tx, repo_id, digest)
        if row is None:
            raise LookupError(f"manifest {digest} is gone")
        parsed = parse_manifest(row.content, row.media_type)
        if not parsed.is_index:
            return [_platform(digest, parsed)]
        found = []
        for child in parsed.children:
            child_row = rows.manifest(tx, repo_id, str(child.digest))
            if child_row is None:
                continue
            try:
                found.append(_platform(str(child.digest),
                                       parse_manifest(child_row.content, child_row.media_type)))
            except NotAnImage:
                continue  # attestations and other artifacts an index may list
    if not found:
        raise NotAnImage("The index lists no image manifest that can be scanned.")
    return found


def _platform(digest: str, parsed) -> Platform:
    if (parsed.is_index or parsed.config is None or parsed.config.media_type not in IMAGE_CONFIGS
            or any(layer.media_type not in LAYER_TYPES for layer in parsed.layers)):
        raise NotAnImage("The image manifest, config or layer media type for the source "
                         "image is not supported.")
    return Platform(digest, str(parsed.config.digest),
                    tuple(str(layer.digest) for layer in parsed.layers))


def platform_name(config: bytes) -> str:
    """"os/architecture[/variant]" from an image config (empty when it does not say)."""
    try:
        doc = json.loads(config)
        parts = [doc.get("os"), doc.get("architecture"), doc.get("variant")]
    except (ValueError, AttributeError):
        return ""
    return "/".join(p for p in parts if isinstance(p, str) and p)
