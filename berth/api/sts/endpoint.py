"""STS on the API port: the query protocol (``Action=...&Version=2011-06-15``, a form POST or
a GET), SigV4-signed for service ``sts`` in any region (STS's global endpoint), answered in
XML. ``aws_root`` shares ``/`` with the ECR API: a request naming an X-Amz-Target is ECR's.

Order, as AWS does it: body (bounded), signature, then the operation and its parameters, so
an unauthenticated client learns nothing about either -- but for the actions whose proof is in
their parameters (a web identity token), which come unsigned."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ...concurrency import blocking
from ...iam.service import Iam
from ...iam.sigv4 import SigV4Error
from ...observability import context as observed
from ...observability import metrics
from .. import awsjson
from ..awsjson import AwsJsonError
from ..credentials import scrubbing
from .operations import OPERATIONS, UNSIGNED, translate
from .protocol import CONTENT_TYPE, StsError, decode_input, encode_error, encode_output
from .protocol import operation_name, parse_form

log = logging.getLogger("berth.api.sts")

SERVICE = "sts"
MAX_BODY_BYTES = 64 * 1024  # policies of 2,048 characters and 50 tags fit many times over
_FORM = "application/x-www-form-urlencoded"
_ECR_PUBLIC_TARGET = b"SpencerFrontendService."  # ECR Public's targetPrefix
# What STS answers for SigV4 refusals (AWS's common query-protocol names and statuses).
_SIGV4_CODES = {"UnrecognizedClientException": ("InvalidClientTokenId", 403),
                "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
                "ExpiredTokenException": ("ExpiredToken", 400),
                "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403)}


def aws_root(ecr: ASGIApp, ecr_public: ASGIApp) -> Route:
    """``/``: STS for query-protocol requests, ECR Public's API for its X-Amz-Target, the ECR
    API for the rest."""
    return Route("/", _AwsRoot(ecr, ecr_public, _StsApi()), name="aws")


def is_sts(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    if b"x-amz-target" in headers:
        return False
    if scope["method"] == "GET":
        return b"Action=" in scope.get("query_string", b"")
    return headers.get(b"content-type", b"").split(b";")[0].strip().decode(
        "latin-1").lower() == _FORM


class _AwsRoot:
    def __init__(self, ecr: ASGIApp, ecr_public: ASGIApp, sts: ASGIApp):
        self.ecr, self.ecr_public, self.sts = ecr, ecr_public, sts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_sts(scope):
            app = self.sts
        elif _target(scope).startswith(_ECR_PUBLIC_TARGET):
            app = self.ecr_public
        else:
            app = self.ecr
        await app(scope, receive, send)


def _target(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            return value
    return b""


class _StsApi:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _respond(Request(scope, receive))
        await response(scope, receive, send)


async def _respond(request: Request) -> Response:
    name, request_id = "-", observed.request_id(request.scope)
    try:
        body = await _body(request)
        iam: Iam = request.app.state.iam
        flat = parse_form(body if request.method == "POST" else request.url.query.encode())
        caller = None
        if _signed(request) or operation_name(flat) not in UNSIGNED:
            caller = (await _verify(request, iam, body)).identity
            observed.note_caller(request.scope, caller.principal.arn, caller.account_id, "")
        name = operation_name(flat)
        observed.note_operation(request.scope, name, name in OPERATIONS)
        handler = OPERATIONS.get(name)
        if handler is None:
            raise StsError("InvalidAction", f"Berth does not serve the STS action {name}.")
        params = decode_input(name, flat)
        result = await blocking(handler, iam, caller, params)
        return _xml(encode_output(name, result, request_id), 200, request_id)
    except SigV4Error as exc:
        log.info("sts %s: authentication failed: %s", name, exc.code)
        metrics.refused("sts", "unauthenticated")
        code, status = _SIGV4_CODES.get(exc.code, (exc.code, exc.http_status))
        return _error(StsError(code, exc.message, status), request_id)
    except Exception as exc:
        error = translate(exc)
        if error is None:
            log.exception("sts %s failed", name)
            error = StsError("InternalFailure", "An internal error occurred.", 500,
                             sender=False)
        return _error(error, request_id)


def _signed(request: Request) -> bool:
    return "authorization" in request.headers or "X-Amz-Credential" in request.query_params


async def _body(request: Request) -> bytes:
    try:
        return await awsjson.read_body(request, MAX_BODY_BYTES)
    except AwsJsonError as exc:
        raise StsError("RequestEntityTooLarge" if exc.status == 413 else
                       "MalformedQueryString", exc.message, exc.status) from None


@scrubbing
async def _verify(request: Request, iam: Iam, body: bytes):
    # Not one-use, as STS's are not: what it changes is a new session each time.
    return await awsjson.verify_signature(iam, request, body, SERVICE, None, False)


def _error(error: StsError, request_id: str) -> Response:
    return _xml(encode_error(error, request_id), error.status, request_id)


def _xml(body: bytes, status: int, request_id: str) -> Response:
    return Response(body, status, {"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)
