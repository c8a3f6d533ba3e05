"""What an image is made of, as people look at it (the gallery, the console): its platforms
(an index's images by the platform its descriptors name, an image's by its config), their
layers and sizes. Reads only: a config blob of at most MAX_CONFIG bytes, no layer."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ...concurrency import blocking
from ...storage.metadata import scanning as manifest_rows
from ..errors import ManifestUnknown, NameUnknown, RegistryError
from ..references import Digest
from ..repositories.service import require_id
from .format import parse_manifest

MAX_CONFIG = 1 << 20
IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json",
                           "application/vnd.docker.container.image.v1+json"})
# What buildx puts in an index beside the images (attestations): not a platform.
_UNKNOWN = "unknown/unknown"


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class PlatformImage:
    name: str                    # "linux/amd64", or "" when nothing says
    digest: str                  # the image manifest's
    layers: tuple[Layer, ...]
    config: str = ""             # its config blob's digest

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class Anatomy:
    digest: str
    media_type: str
    artifact_type: str | None
    platforms: tuple[PlatformImage, ...]  # an artifact's: none

    @property
    def platform_names(self) -> list[str]:
        return [p.name for p in self.platforms if p.name]


def platform_text(platform) -> str:
    """"os/architecture[/variant]" from an index descriptor's platform or an image config."""
    if not isinstance(platform, dict):
        return ""
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    return "/".join(p for p in parts if isinstance(p, str) and p)


class ImageAnatomy:
    def __init__(self, registry):
        self.registry = registry

    async def platforms_async(self, repository: str,
                              digests: list[str]) -> dict[str, list["PlatformImage"]]:
        """Each image's platforms, in a thread; images deleted meanwhile are left out."""
        return await blocking(self._platforms, repository, digests)

    def _platforms(self, repository: str, digests: list[str]) -> dict[str, list]:
        found = {}
        for digest in digests:
            try:
                found[digest] = list(self.of(repository, digest).platforms)
            except (ManifestUnknown, NameUnknown):
                continue
        return found

    def of(self, repository: str, digest: str) -> Anatomy:
        with self.registry.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            row = manifest_rows.manifest(tx, repo_id, digest)
            if row is None:
                raise ManifestUnknown(f"manifest {digest} is not in {repository}")
            parsed = parse_manifest(row.content, row.media_type)
            if not parsed.is_index:
                images = [(digest, parsed, None)]
            else:
                described = parsed.raw.get("manifests") or []
                images = []
                for child, raw in zip(parsed.children, described):
                    child_row = manifest_rows.manifest(tx, repo_id, str(child.digest))
                    name = platform_text(raw.get("platform") if isinstance(raw, dict) else None)
                    if child_row is not None and name != _UNKNOWN:
                        images.append((str(child.digest), parse_manifest(
                            child_row.content, child_row.media_type), name))
        platforms = tuple(self._platform(repository, d, p, name) for d, p, name in images
                          if p.config is not None and p.config.media_type in IMAGE_CONFIGS)
        return Anatomy(digest, row.media_type, parsed.effective_artifact_type, platforms)

    def _platform(self, repository: str, digest: str, parsed, name: str | None
                  ) -> PlatformImage:
        if name is None:
            name = self._config_platform(repository, parsed.config)
        layers = tuple(Layer(str(layer.digest), layer.size, layer.media_type)
                       for layer in parsed.layers)
        return PlatformImage(name, digest, layers, str(parsed.config.digest))

    def _config_platform(self, repository: str, config) -> str:
        if config.size > MAX_CONFIG:
            return ""
        blobs = self.registry.blobs
        try:
            found = blobs.find(repository, Digest.parse(str(config.digest)))
            return platform_text(json.loads(b"".join(blobs.read(found, 0, found.size))))
        except (RegistryError, ValueError):  # a blob gone meanwhile, a config of no JSON
            return ""
