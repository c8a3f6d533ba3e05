"""Pushing blobs and manifests over plain HTTP, the way clients do, for tests that need control
over every request (chunk sizes, kills between chunks). Authentication is the session's
(``session.auth = ("AWS", token)``, see BerthNode.session())."""
from __future__ import annotations

import hashlib
import json
from urllib.parse import urljoin

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(session: requests.Session, base: str, repo: str, data: bytes,
              chunk_size: int | None = None, timeout: float = 60) -> str:
    digest = digest_of(data)
    if chunk_size is None:
        r = session.post(f"{base}/v2/{repo}/blobs/uploads/?digest={digest}", data=data,
                         headers={"Content-Type": "application/octet-stream"}, timeout=timeout)
        r.raise_for_status()
        assert r.status_code == 201, r.text
        return digest
    r = session.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=timeout)
    assert r.status_code == 202, r.text
    location = urljoin(base, r.headers["Location"])
    for start in range(0, len(data), chunk_size):
        part = data[start:start + chunk_size]
        r = session.patch(location, data=part, timeout=timeout, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert r.status_code == 202, r.text
        location = urljoin(base, r.headers["Location"])
    r = session.put(f"{location}?digest={digest}", timeout=timeout)
    assert r.status_code == 201, r.text
    return digest


def image_manifest(config: bytes, layers: list[bytes], indent: int | None = None) -> bytes:
    """An OCI image manifest of ``config`` and ``layers`` (``indent``: its JSON laid out)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer), "size": len(layer)} for layer in layers],
    }, indent=indent).encode()


def push_image(session: requests.Session, base: str, repo: str, tag: str, config: bytes,
               layers: list[bytes], chunk_size: int | None = None) -> str:
    for blob in (config, *layers):
        push_blob(session, base, repo, blob, chunk_size)
    manifest = image_manifest(config, layers)
    r = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=manifest,
                    headers={"Content-Type": OCI_MANIFEST}, timeout=60)
    assert r.status_code == 201, r.text
    return digest_of(manifest)
