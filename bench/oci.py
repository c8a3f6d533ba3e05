"""OCI content helpers: streamed pseudo-random blob data, digests, image manifests."""
from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from typing import Iterator
from urllib.parse import urlsplit

MIB = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT_MANIFESTS = ", ".join([
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])

_BASE_CACHE: dict[int, bytes] = {}


def blob_chunks(size: int, seed: int, chunk: int = MIB) -> Iterator[memoryview]:
    """Yields `size` bytes of incompressible data in `chunk`-sized views, unique per (seed, offset).

    One random base block is reused; the first 16 bytes of every chunk are overwritten with
    (seed, chunk index) so no two chunks -- and no two blobs -- are identical. The same buffer is
    mutated in place, so a consumer must finish with a chunk before asking for the next one
    (true for blocking sendall and for hashing). Memory use is O(chunk), not O(size).
    """
    if chunk not in _BASE_CACHE:
        _BASE_CACHE[chunk] = random.Random(0xB1A5).randbytes(chunk)
    buf = bytearray(_BASE_CACHE[chunk])
    view = memoryview(buf)
    off = idx = 0
    while off < size:
        n = min(chunk, size - off)
        buf[:16] = struct.pack(">QQ", seed, idx)
        yield view[:n]
        off += n
        idx += 1


def blob_digest(size: int, seed: int, chunk: int = MIB) -> str:
    h = hashlib.sha256()
    for c in blob_chunks(size, seed, chunk):
        h.update(c)
    return "sha256:" + h.hexdigest()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_layer(n: int, size: int) -> bytes:
    """A unique few-KiB 'layer' (random bytes; the registry does not look inside)."""
    return struct.pack(">Q", n) + os.urandom(max(0, size - 8))


def image_config(layer_digest: str, n: int) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": [f"BENCH_IMAGE={n}"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }, separators=(",", ":")).encode()


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(b), "size": len(b)}
                   for b in layers],
    }, separators=(",", ":")).encode()


def with_query(location: str, **params: str) -> str:
    """Path+query of an upload Location (absolute or relative) with extra query params added."""
    u = urlsplit(location)
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    query = u.query + ("&" if u.query and extra else "") + extra
    return u.path + ("?" + query if query else "")
