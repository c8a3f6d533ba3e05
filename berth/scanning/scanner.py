"""A scan of one image: its layers' inventories (read from storage once per layer digest,
then kept), stacked per platform, matched against the advisories. Reading is bounded (layer
size and entry count); what cannot be read ends the scan FAILED, what is not an image or has
no supported package manager UNSUPPORTED_IMAGE, each with a reason."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ..registry.references import Digest
from ..registry.registry import Registry
from ..storage.metadata import scanning as rows
from .configuration import BASIC
from .findings import Finding
from .images import MAX_CONFIG, NotAnImage, Platform, platform_name, platforms
from .inventory.distro import osv_ecosystem
from .inventory.image import ImageInventory, merge
from .inventory.layers import READER, LayerInventory, LayerUnreadable, read_layer
from .matcher import AdvisoryCache, match_inventory
from .packages import OS, DetectorError

COMPLETE, FAILED, UNSUPPORTED = "COMPLETE", "FAILED", "UNSUPPORTED_IMAGE"
DONE = "The scan was completed successfully."
NO_PACKAGES = "UnsupportedImageError: The operating system and/or package manager are not supported."
MAX_ERROR = 500


class LayerFailed(Exception):
    """A layer could not be read (kept with the layer: every image using it fails alike)."""


@dataclass(frozen=True)
class Limits:
    max_layer_bytes: int = 16 << 30
    max_layer_entries: int = 2_000_000


@dataclass
class Outcome:
    status: str
    description: str
    findings: list[Finding] = field(default_factory=list)


class Scanner:
    def __init__(self, registry: Registry, limits: Limits = Limits(), cached_layers: int = 512):
        self.registry, self.limits = registry, limits
        self._cache: OrderedDict[str, LayerInventory] = OrderedDict()
        self._cache_size = cached_layers
        self.advisories = AdvisoryCache()
        self._lock = threading.Lock()  # scan jobs may run side by side in threads

    def scan(self, registry_id: int, repo_id: int, repository: str, digest: str,
             scan_type: str) -> Outcome:
        try:
            found = platforms(self.registry.db, repo_id, digest)
        except NotAnImage as exc:
            return Outcome(UNSUPPORTED, f"UnsupportedImageError: {exc}")
        blobs = self.registry.scoped(registry_id).blobs
        findings, supported = [], False
        for platform in found:
            try:
                inventory = self.inventory(blobs, repository, platform)
            except LayerFailed as exc:
                return Outcome(FAILED, f"ScanFailed: {exc}"[:MAX_ERROR])
            if not _supported(inventory, scan_type):
                continue
            supported = True
            name = self.platform_name(blobs, repository, platform) if len(found) > 1 else ""
            with self.registry.db.read() as tx:
                findings += match_inventory(tx, inventory, scan_type, name, self.advisories)
        if not supported:
            return Outcome(UNSUPPORTED, NO_PACKAGES)
        return Outcome(COMPLETE, DONE, findings)

    def inventory(self, blobs, repository: str, platform: Platform) -> ImageInventory:
        return merge([(d, self._layer(blobs, repository, d)) for d in platform.layers])

    def _layer(self, blobs, repository: str, digest: str) -> LayerInventory:
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return cached
        with self.registry.db.read() as tx:
            row = rows.layers(tx, [digest]).get(digest)
        if row is None or row.reader < READER:
            row = self._read(blobs, repository, digest)
        if row.error:
            raise LayerFailed(row.error)
        inventory = LayerInventory.loads(row.content, digest)
        with self._lock:
            self._cache[digest] = inventory
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return inventory

    def _read(self, blobs, repository: str, digest: str):
        blob = blobs.find(repository, Digest.parse(digest))
        content = error = None
        try:
            content = read_layer(blobs.read(blob, 0, blob.size), self.limits.max_layer_bytes,
                                 self.limits.max_layer_entries).dumps()
        except (LayerUnreadable, DetectorError) as exc:
            error = f"layer {digest}: {exc}"[:MAX_ERROR]
        with self.registry.db.write() as tx:
            rows.put_layer(tx, digest, time.time(), content, error, READER)
            return rows.layers(tx, [digest])[digest]  # a concurrent scan's row, if first

    def platform_name(self, blobs, repository: str, platform: Platform) -> str:
        """"os/arch[/variant]" from the platform's config (empty if too large to be one)."""
        blob = blobs.find(repository, Digest.parse(platform.config))
        if blob.size > MAX_CONFIG:
            return ""
        return platform_name(b"".join(blobs.read(blob, 0, blob.size)))


def _supported(inventory: ImageInventory, scan_type: str) -> bool:
    """Basic scans read the operating system's packages; enhanced ones any package."""
    known_os = inventory.distro is not None and osv_ecosystem(inventory.distro) is not None
    if scan_type == BASIC:
        return known_os and any(p.manager == OS for p in inventory.packages)
    return known_os or any(p.manager != OS for p in inventory.packages)
