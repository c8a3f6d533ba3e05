"""OCI error bodies: {"errors": [{"code", "message", "detail"}]} with the spec's statuses."""
from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ...observability import metrics
from ...pullthrough.errors import (
    RuleNotFound,
    UnsupportedUpstream,
    UpstreamThrottled,
    UpstreamUnavailable,
)
from ...quotas.models import QuotaExceeded
from ...registry import errors as e
from ...registry.errors import KeyUnavailable
from ..http.admission import TooManyRequests
from ...registry.errors import StorageFull

log = logging.getLogger("berth.api.oci")

# Each domain error as OCI has it: (status, code); the most specific class listed wins.
_OCI: dict[type, tuple[int, str]] = {
    e.NameInvalid: (400, "NAME_INVALID"), e.NameUnknown: (404, "NAME_UNKNOWN"),
    e.TagInvalid: (400, "TAG_INVALID"), e.DigestInvalid: (400, "DIGEST_INVALID"),
    e.BlobUnknown: (404, "BLOB_UNKNOWN"), e.BlobReferenced: (409, "DENIED"),
    e.BlobUploadUnknown: (404, "BLOB_UPLOAD_UNKNOWN"),
    e.BlobUploadInvalid: (400, "BLOB_UPLOAD_INVALID"),
    e.RangeInvalid: (416, "BLOB_UPLOAD_INVALID"),
    e.SizeInvalid: (400, "SIZE_INVALID"), e.ManifestTooLarge: (413, "SIZE_INVALID"),
    e.ManifestInvalid: (400, "MANIFEST_INVALID"), e.ManifestUnknown: (404, "MANIFEST_UNKNOWN"),
    e.ManifestNotAcceptable: (404, "MANIFEST_UNKNOWN"),
    e.ManifestBlobUnknown: (400, "MANIFEST_BLOB_UNKNOWN"),
    e.ManifestReferenced: (409, "DENIED"), e.PaginationInvalid: (400, "PAGINATION_NUMBER_INVALID"),
    QuotaExceeded: (403, "DENIED"), UpstreamUnavailable: (503, "UNAVAILABLE"),
    UpstreamThrottled: (429, "TOOMANYREQUESTS"), RuleNotFound: (400, "NAME_UNKNOWN"),
    UnsupportedUpstream: (400, "UNSUPPORTED"),
}
# Any other refusal the domain makes of a registry request.
_REFUSED = (400, "DENIED")


def _repository(request: Request) -> str:
    """The repository's name as ECR's messages give it (a public one's without its alias)."""
    return getattr(request.state, "repository_name", None) or request.path_params.get("name", "")


def _registry(request: Request) -> str:
    """The registry's id, for ECR's wording; none for a public registry (whose pulls may be
    anonymous: they learn no account)."""
    address = getattr(request.state, "address", None)
    return "" if address is None or address.is_public else address.account_id


# Messages worded as ECR words them to docker and skopeo (from the error's data).
_WORDING = {
    e.NameUnknown: lambda exc, request: (
        f"The repository with name '{_repository(request)}' does not exist in the registry "
        f"with id '{_registry(request)}'"),
    e.TagImmutable: lambda exc, request: (
        f"The image tag '{exc.detail['tag']}' already exists in the '{_repository(request)}' "
        "repository and cannot be overwritten because the repository is immutable."),
}


def error_response(status: int, code: str, message: str, detail: object = None,
                   headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return Response(json.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def _lookup(table: dict, exc: Exception, default=None):
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return default


async def registry_error(request: Request, exc: e.RegistryError) -> Response:
    status, code = _lookup(_OCI, exc, _REFUSED)
    words = _lookup(_WORDING, exc)
    message = exc.message if words is None or not _registry(request) else words(exc, request)
    headers = None
    if isinstance(exc, e.RangeInvalid) and isinstance(exc.detail, dict):
        size = exc.detail.get("size", 0)
        headers = {"Range": f"0-{max(size - 1, 0)}", "Location": request.url.path}
    return error_response(status, code, message, exc.detail, headers)


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
