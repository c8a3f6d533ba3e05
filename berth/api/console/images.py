"""A console page per image: what it is (tags, size, push and pull times, media types), its
platforms (an index's images, each with its layers) or its layers and config, its referrers
(signatures, SBOMs, other artifacts) and its scan findings by severity. All ECR API calls as
the signed-in principal."""
from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from ..web.pages import page
from .calls import ConsoleError, call, region_of
from .session import signed_in

CHILDREN_SHOWN = 20
MANIFEST_TYPES = ["application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.oci.image.index.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws"]
_KINDS = (("notary", "Notary Project signature"), ("cosign", "Sigstore signature"),
          ("sigstore", "Sigstore signature"), ("spdx", "SBOM (SPDX)"),
          ("cyclonedx", "SBOM (CycloneDX)"), ("in-toto", "attestation"))


def kind_of(artifact_type: str | None) -> str:
    """What a referrer is, as people call it."""
    text = (artifact_type or "").lower()
    return next((label for word, label in _KINDS if word in text), artifact_type or "artifact")


async def _manifest(request: Request, name: str, digest: str) -> dict:
    found = await call(request, "BatchGetImage", {
        "repositoryName": name, "imageIds": [{"imageDigest": digest}],
        "acceptedMediaTypes": MANIFEST_TYPES})
    if not found["images"]:
        failure = (found.get("failures") or [{}])[0]
        raise ConsoleError(failure.get("failureCode", "ImageNotFound"),
                           failure.get("failureReason", f"No image {digest}."))
    return json.loads(found["images"][0]["imageManifest"])


def _platform(descriptor: dict) -> str:
    p = descriptor.get("platform") or {}
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


async def _platforms(request: Request, name: str, manifest: dict) -> list[dict]:
    """An index's images (at most CHILDREN_SHOWN) with their layers; an image's own."""
    if "manifests" not in manifest:
        return [{"platform": "", "digest": None, "layers": manifest.get("layers") or [],
                 "config": (manifest.get("config") or {}).get("digest")}]
    shown = []
    for child in manifest["manifests"][:CHILDREN_SHOWN]:
        if _platform(child) == "unknown/unknown":  # buildx's attestations: referrers, really
            continue
        try:
            body = await _manifest(request, name, child["digest"])
        except ConsoleError:
            body = {}
        shown.append({"platform": _platform(child), "digest": child["digest"],
                      "layers": body.get("layers") or [],
                      "config": (body.get("config") or {}).get("digest")})
    return shown


async def _findings(request: Request, name: str, digest: str) -> dict | None:
    try:
        found = await call(request, "DescribeImageScanFindings", {
            "repositoryName": name, "imageId": {"imageDigest": digest}, "maxResults": 1})
    except ConsoleError as exc:
        if exc.code == "ScanNotFoundException":
            return None
        raise
    return {"status": found["imageScanStatus"]["status"],
            "counts": (found.get("imageScanFindings") or {}).get("findingSeverityCounts")}


async def _replication(request: Request, name: str, digest: str) -> list[dict]:
    """Where the image is replicated to, and how far (none without a replication rule)."""
    try:
        found = await call(request, "DescribeImageReplicationStatus", {
            "repositoryName": name, "imageId": {"imageDigest": digest}})
    except ConsoleError:  # may see the image, not its replication
        return []
    return found.get("replicationStatuses") or []


@signed_in
async def image(request: Request) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    context = {"session": request.state.console, "region": region_of(request),
               "regions": request.app.state.iam.tenancy.regions, "name": name}
    try:
        [detail] = (await call(request, "DescribeImages", {
            "repositoryName": name, "imageIds": [{"imageDigest": digest}]}))["imageDetails"]
        manifest = await _manifest(request, name, digest)
        referrers = (await call(request, "ListImageReferrers", {
            "repositoryName": name, "subjectId": {"imageDigest": digest}}))["referrers"]
        findings = await _findings(request, name, digest)
        replication = await _replication(request, name, digest)
    except ConsoleError as exc:
        status = 404 if exc.code in ("ImageNotFoundException", "ImageNotFound",
                                     "RepositoryNotFoundException") else 403
        return page("console/error.html", status, **context, message=exc.message)
    return page("console/image.html", **context, image=detail,
                platforms=await _platforms(request, name, manifest),
                referrers=[{**r, "kind": kind_of(r.get("artifactType"))} for r in referrers],
                findings=findings, replication=replication)
