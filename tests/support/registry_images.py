"""Images of one layer put straight into a ``Registry`` (blobs, then the manifest), as the unit
tests of the registry and of the ECR API set up their state."""
from __future__ import annotations

import json

from berth.registry.images.format import OCI_MANIFEST
from berth.registry.references import Digest

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def image_manifest(reg, repository: str, layer: bytes = b"layer", **extra) -> bytes:
    """Uploads the config and ``layer`` blobs; returns the manifest naming them."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for data in (config, layer):
        reg.uploads.put_small(repository, Digest.of(data), data)
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": str(Digest.of(config)),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)), "size": len(layer)}], **extra}).encode()


def push_image(reg, repository: str, tag: str, layer: bytes = b"layer", **extra) -> Digest:
    """An image of one layer, pushed as clients do: blobs, then the manifest under ``tag``."""
    body = image_manifest(reg, repository, layer, **extra)
    return reg.manifests.put(repository, tag, body, OCI_MANIFEST).digest
