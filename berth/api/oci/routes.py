"""The OCI Distribution route table. Names contain slashes, so each route anchors on the
fixed segment after the name."""
from __future__ import annotations

from starlette.routing import Route

from . import blobs, listings, manifests, uploads

_NAME = "/v2/{name:path}"

routes = [
    Route("/v2/", listings.base, methods=["GET"]),
    Route("/v2/_catalog", listings.catalog, methods=["GET"]),
    Route(_NAME + "/manifests/{reference}", manifests.get_manifest, methods=["GET", "HEAD"]),
    Route(_NAME + "/manifests/{reference}", manifests.put_manifest, methods=["PUT"]),
    Route(_NAME + "/manifests/{reference}", manifests.delete_manifest, methods=["DELETE"]),
    Route(_NAME + "/blobs/uploads/", uploads.start_upload, methods=["POST"]),
    Route(_NAME + "/blobs/uploads/{uuid}", uploads.upload_status, methods=["GET"]),
    Route(_NAME + "/blobs/uploads/{uuid}", uploads.patch_upload, methods=["PATCH"]),
    Route(_NAME + "/blobs/uploads/{uuid}", uploads.finish_upload, methods=["PUT"]),
    Route(_NAME + "/blobs/uploads/{uuid}", uploads.cancel_upload, methods=["DELETE"]),
    Route(_NAME + "/blobs/{digest}", blobs.get_blob, methods=["GET", "HEAD"]),
    Route(_NAME + "/blobs/{digest}", blobs.delete_blob, methods=["DELETE"]),
    Route(_NAME + "/tags/list", listings.tags_list, methods=["GET"]),
    Route(_NAME + "/referrers/{digest}", listings.referrers, methods=["GET"]),
]
