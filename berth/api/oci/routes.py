"""The OCI Distribution route table, each route behind the gate with its ECR actions. Names
contain slashes, so each route anchors on the fixed segment after the name."""
from __future__ import annotations

from starlette.routing import Route

from . import blobs, listings, manifests, uploads
from .access import BLOB, CATALOG, MANIFEST, REFERRERS, TAGS, UPLOAD, UPLOAD_START, guarded

_NAME = "/v2/{name:path}"


def _route(path: str, handler, methods: list[str], actions) -> Route:
    return Route(path, guarded(actions, handler), methods=methods)


routes = [
    _route("/v2/", listings.base, ["GET"], None),
    _route("/v2/_catalog", listings.catalog, ["GET"], CATALOG),
    _route(_NAME + "/manifests/{reference}", manifests.get_manifest, ["GET", "HEAD"], MANIFEST),
    _route(_NAME + "/manifests/{reference}", manifests.put_manifest, ["PUT"], MANIFEST),
    _route(_NAME + "/manifests/{reference}", manifests.delete_manifest, ["DELETE"], MANIFEST),
    _route(_NAME + "/blobs/uploads/", uploads.start_upload, ["POST"], UPLOAD_START),
    _route(_NAME + "/blobs/uploads/{uuid}", uploads.upload_status, ["GET"], UPLOAD),
    _route(_NAME + "/blobs/uploads/{uuid}", uploads.patch_upload, ["PATCH"], UPLOAD),
    _route(_NAME + "/blobs/uploads/{uuid}", uploads.finish_upload, ["PUT"], UPLOAD),
    _route(_NAME + "/blobs/uploads/{uuid}", uploads.cancel_upload, ["DELETE"], UPLOAD),
    _route(_NAME + "/blobs/{digest}", blobs.get_blob, ["GET", "HEAD"], BLOB),
    _route(_NAME + "/blobs/{digest}", blobs.delete_blob, ["DELETE"], BLOB),
    _route(_NAME + "/tags/list", listings.tags_list, ["GET"], TAGS),
    _route(_NAME + "/referrers/{digest}", listings.referrers, ["GET"], REFERRERS),
]
