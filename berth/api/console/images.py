"""A console page per image: what it is (tags, size, push and pull times, media types), its
platforms (an index's images, or the image's own from its config) with their layers, its
referrers (signatures, SBOMs, other artifacts), its scan findings by severity and where it is
replicated. As the signed-in principal: ECR API calls, and the image's make-up read once it
may BatchGetImage (the page is no pull: it records none)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...registry.images.anatomy import ImageAnatomy
from ..web.pages import page
from .calls import ConsoleError, authorized, call, region_of
from .session import signed_in

_KINDS = (("notary", "Notary Project signature"), ("cosign", "Sigstore signature"),
          ("sigstore", "Sigstore signature"), ("spdx", "SBOM (SPDX)"),
          ("cyclonedx", "SBOM (CycloneDX)"), ("in-toto", "attestation"))


def kind_of(artifact_type: str | None) -> str:
    """What a referrer is, as people call it."""
    text = (artifact_type or "").lower()
    return next((label for word, label in _KINDS if word in text), artifact_type or "artifact")


async def platforms(request: Request, name: str, digests: list[str]) -> dict[str, list]:
    """Each image's platforms (PlatformImage), for a principal that may BatchGetImage on the
    repository (else none are known)."""
    try:
        target = await authorized(request, "ecr:BatchGetImage", name)
    except ConsoleError:
        return {}
    return await ImageAnatomy(target.registry).platforms_async(name, digests)


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
        referrers = (await call(request, "ListImageReferrers", {
            "repositoryName": name, "subjectId": {"imageDigest": digest}}))["referrers"]
        findings = await _findings(request, name, digest)
        replication = await _replication(request, name, digest)
    except ConsoleError as exc:
        status = 404 if exc.code in ("ImageNotFoundException",
                                     "RepositoryNotFoundException") else 403
        return page("console/error.html", status, **context, message=exc.message)
    made_of = await platforms(request, name, [detail["imageDigest"]])
    return page("console/image.html", **context, image=detail,
                platforms=made_of.get(detail["imageDigest"], []),
                referrers=[{**r, "kind": kind_of(r.get("artifactType"))} for r in referrers],
                findings=findings, replication=replication)
