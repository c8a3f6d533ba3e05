"""Building OCI images/indexes in memory and writing/reading them as OCI image layouts on disk."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tests.support import media_types as mt
from tests.support.tarballs import make_tar, gzip_bytes

REF_NAME = "org.opencontainers.image.ref.name"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Image:
    manifest: Blob
    config: Blob
    layers: list[Blob]
    layer_files: list[dict[str, bytes]]
    platform: dict[str, str] = field(default_factory=dict)

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers, self.manifest]


def build_image(
    layer_files: Sequence[Mapping[str, bytes]],
    *,
    architecture: str = "amd64",
    os: str = "linux",
    cmd: Sequence[str] = ("/hello",),
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An OCI image with one gzip layer per mapping of path -> content."""
    tars = [make_tar(files) for files in layer_files]
    layers = [Blob(mt.OCI_LAYER_GZIP, gzip_bytes(t)) for t in tars]
    config_obj = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": architecture,
        "os": os,
        "config": {"Cmd": list(cmd), "Env": ["PATH=/"], "Labels": {"berth.e2e": "true"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(t) for t in tars]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"berth e2e layer {i}"}
                    for i in range(len(tars))],
    }
    config = Blob(mt.OCI_CONFIG, canonical_json(config_obj))
    manifest_obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest_obj["annotations"] = dict(annotations)
    manifest = Blob(mt.OCI_MANIFEST, canonical_json(manifest_obj))
    return Image(manifest, config, layers, [dict(f) for f in layer_files], {"architecture": architecture, "os": os})


def build_index(images: Iterable[Image]) -> Blob:
    manifests = [img.manifest.descriptor(platform=img.platform) for img in images]
    return Blob(mt.OCI_INDEX, canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}))


class OciLayout:
    """An OCI image layout directory (oci-layout, index.json, blobs/sha256/...)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, blobs: Iterable[Blob], refs: Mapping[str, Blob]) -> "OciLayout":
        """Write blobs plus an index.json naming each ref (tag -> manifest or index blob)."""
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        for blob in [*blobs, *refs.values()]:
            (self.path / "blobs" / "sha256" / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
        index = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [blob.descriptor(annotations={REF_NAME: ref}) for ref, blob in refs.items()],
        }
        (self.path / "index.json").write_text(json.dumps(index))
        return self

    def ref(self, name: str) -> dict:
        """The index.json descriptor for a ref name."""
        index = json.loads((self.path / "index.json").read_text())
        found = [d for d in index["manifests"] if d.get("annotations", {}).get(REF_NAME) == name]
        assert len(found) == 1, f"expected exactly one {name!r} in {self.path}/index.json, got {index}"
        return found[0]

    def blob(self, digest: str) -> bytes:
        algo, hexpart = digest.split(":", 1)
        data = (self.path / "blobs" / algo / hexpart).read_bytes()
        assert sha256_digest(data) == digest, f"blob {digest} in {self.path} does not match its digest"
        return data

    def json_blob(self, digest: str) -> Any:
        return json.loads(self.blob(digest))
