"""Async push helpers shared by the small-image, manifest and tag workloads."""
from __future__ import annotations

from ..httpc import AsyncConn
from ..oci import OCI_MANIFEST, image_config, image_manifest, sha256_digest, small_layer, with_query


async def upload_blob(c: AsyncConn, repo: str, data: bytes, mode: str) -> str:
    """Uploads `data`; mode 'post' = single POST ?digest= with body (OCI 'monolithic POST'),
    'post-put' = POST then PUT ?digest= with body (for registries that answer POST ?digest= 202)."""
    digest = sha256_digest(data)
    octet = {"Content-Type": "application/octet-stream"}
    if mode == "post":
        r = await c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", octet, data)
        r.expect(201, what="POST ?digest=")
    else:
        r = await c.request("POST", f"/v2/{repo}/blobs/uploads/")
        r.expect(202, what="POST upload")
        r = await c.request("PUT", with_query(r.headers["location"], digest=digest), octet, data)
        r.expect(201, what="PUT ?digest=")
    return digest


async def put_manifest(c: AsyncConn, repo: str, ref: str, manifest: bytes) -> None:
    r = await c.request("PUT", f"/v2/{repo}/manifests/{ref}", {"Content-Type": OCI_MANIFEST},
                        manifest)
    r.expect(201, what=f"PUT manifest {ref}")


async def push_small_image(c: AsyncConn, repo: str, tag: str, n: int, layer_size: int,
                           mode: str) -> bytes:
    layer = small_layer(n, layer_size)
    config = image_config(sha256_digest(layer), n)
    await upload_blob(c, repo, layer, mode)
    await upload_blob(c, repo, config, mode)
    manifest = image_manifest(config, [layer])
    await put_manifest(c, repo, tag, manifest)
    return manifest


async def detect_upload_mode(c: AsyncConn, repo: str, requested: str) -> str:
    """'auto' -> 'post' if the server completes a POST ?digest= upload (201), else 'post-put'."""
    if requested != "auto":
        return requested
    probe = small_layer(0xFFFF_FFFF, 512)
    r = await c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={sha256_digest(probe)}",
                        {"Content-Type": "application/octet-stream"}, probe)
    if r.status == 201:
        return "post"
    if r.status == 202 and "location" in r.headers:  # abandon the session the server opened
        await c.request("DELETE", with_query(r.headers["location"]))
        return "post-put"
    r.expect(201, 202, what="POST ?digest= probe")
    return "post-put"
