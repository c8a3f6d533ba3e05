"""OCI error bodies: {"errors": [{"code", "message", "detail"}]} with the spec's statuses."""
from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ...observability import metrics
from ...pullthrough.errors import UpstreamThrottled, UpstreamUnavailable
from ...quotas.models import QuotaExceeded
from ...registry import errors as e
from ...storage.blobs.keyring import KeyUnavailable
from ..http.admission import TooManyRequests
from ...storage.errors import StorageFull

log = logging.getLogger("berth.api.oci")

_STATUS = {
    e.NameInvalid: 400, e.NameUnknown: 404, e.TagInvalid: 400, e.DigestInvalid: 400,
    e.BlobUnknown: 404, e.BlobUploadUnknown: 404, e.RangeInvalid: 416,
    e.BlobUploadInvalid: 400, e.ManifestTooLarge: 413, e.SizeInvalid: 400,
    e.ManifestInvalid: 400, e.ManifestNotAcceptable: 404, e.ManifestUnknown: 404,
    e.ManifestBlobUnknown: 400, e.BlobReferenced: 409, e.ManifestReferenced: 409,
    e.PaginationInvalid: 400, UpstreamUnavailable: 503, UpstreamThrottled: 429,
    QuotaExceeded: 403,
}


def error_response(status: int, code: str, message: str, detail: object = None,
                   headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return Response(json.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def _status(exc: e.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


async def registry_error(request: Request, exc: e.RegistryError) -> Response:
    status = _status(exc)
    headers = None
    if isinstance(exc, e.RangeInvalid) and isinstance(exc.detail, dict):
        size = exc.detail.get("size", 0)
        headers = {"Range": f"0-{max(size - 1, 0)}", "Location": request.url.path}
    return error_response(status, exc.code, exc.message, exc.detail, headers)


async def key_unavailable(request: Request, exc: KeyUnavailable) -> Response:
    """The key sealing the repository's blobs is disabled (or gone): refused, saying which
    key and why, as the registry refuses what it will not do."""
    log.info("%s %s refused: %s", request.method, request.url.path, exc)
    return error_response(403, "DENIED", str(exc), {"key": exc.arn or exc.key_ref})


async def storage_full(request: Request, exc: StorageFull) -> Response:
    """No room left for what the request would store (blobs or metadata): 507, with the
    code Harbor answers for refused storage (DENIED), never UNKNOWN."""
    return error_response(507, "DENIED", f"the registry's storage is full ({exc.storage}: "
                          f"{exc.reason}); nothing was stored, retry once space is freed",
                          {"storage": exc.storage})


async def too_many_requests(request: Request, exc: TooManyRequests) -> Response:
    metrics.refused("oci", "throttled")
    return error_response(429, "TOOMANYREQUESTS", str(exc), headers={"Retry-After": "1"})


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return error_response(404, "UNSUPPORTED", f"no such endpoint: {request.url.path}")
    if exc.status_code == 405:
        return error_response(405, "UNSUPPORTED",
                              f"{request.method} is not supported on {request.url.path}")
    return error_response(exc.status_code, "UNSUPPORTED", str(exc.detail))


async def client_disconnect(request: Request, exc: ClientDisconnect) -> Response:
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return error_response(400, "BLOB_UPLOAD_INVALID", "client disconnected")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "UNKNOWN", "internal error")


HANDLERS = {
    e.RegistryError: registry_error,
    KeyUnavailable: key_unavailable,
    StorageFull: storage_full,
    TooManyRequests: too_many_requests,
    HTTPException: http_error,
    ClientDisconnect: client_disconnect,
    Exception: unexpected_error,
}
