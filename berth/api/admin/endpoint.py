"""``POST /admin``: the admin API, AWS JSON 1.1 style (``X-Amz-Target:
BerthAdmin_20261122.<Operation>``), SigV4-signed for service ``berth`` in any region (like
IAM, it is not regional).

Order, as AWS JSON services do it: target, body (bounded), signature; only an authenticated
caller learns whether the operation exists and what is wrong with its parameters. Client
mistakes are 4xx with ``{"__type", "message"}``; a 500 means a bug, logged here."""
from __future__ import annotations

import json
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...iam.authentication import Caller
from ...iam.service import Iam
from ...iam.sigv4 import SigV4Error, verify_request
from ...registry.concurrency import blocking
from .access import authorize
from .errors import AdminError, error_response, json_response, translate
from .operations import OPERATIONS, TARGET_PREFIX, Operation, validate

log = logging.getLogger("berth.api.admin")

PATH = "/admin"
SERVICE = "berth"
MAX_BODY_BYTES = 1024 * 1024


def admin_route(path: str = PATH) -> Route:
    # An ASGI app rather than a function, so every method gets a JSON answer.
    return Route(path, _AdminApi(), name="admin")


class _AdminApi:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _respond(Request(scope, receive))
        await response(scope, receive, send)


async def _respond(request: Request) -> Response:
    name = "-"
    try:
        name = _operation_name(request)
        body = await _read_body(request)
        iam = request.app.state.iam
        caller = await blocking(_authenticate, iam, request, body)
        op = _operation(name)
        return json_response(await blocking(_run, iam, caller, op, _decode(body)))
    except SigV4Error as exc:
        log.info("admin %s: authentication failed: %s", name, exc.code)
        return error_response(exc.code, exc.message, exc.http_status)
    except Exception as exc:
        error = translate(exc)
        if error is None:
            log.exception("admin %s failed", name)  # never the body: it may hold policies
            error = AdminError("InternalFailure", "An internal error occurred.", 500)
        return error_response(error.code, error.message, error.status)


def _run(iam: Iam, caller: Caller, op: Operation, params: object) -> dict:
    if op.per_account and isinstance(params, dict) and params.get("AccountId") is None:
        params["AccountId"] = caller.account_id  # like IAM: your own account by default
    params = validate(op, params)
    authorize(iam, caller, op, params)
    result = op.handler(iam, params)
    log.info("admin %s by %s (account %s)", op.name, caller.principal.arn,
             params.get("AccountId", "-"))
    return result


def _authenticate(iam: Iam, request: Request, body: bytes) -> Caller:
    with iam.db.read() as tx:
        entries = iam.cache.entries(tx)
        verified = verify_request(
            request.method, request.scope["raw_path"], request.scope["query_string"],
            request.headers.raw, body=body, service=SERVICE,
            lookup_secret=lambda key_id: iam.authenticator.secret(tx, entries, key_id))
    return verified.identity


def _operation_name(request: Request) -> str:
    if request.method != "POST":
        raise AdminError("UnknownOperationException",
                         f"{request.method} is not supported; use POST.", 404)
    target = request.headers.get("x-amz-target", "")
    prefix, dot, name = target.partition(".")
    if prefix != TARGET_PREFIX or not name:
        raise AdminError("UnknownOperationException",
                         f"X-Amz-Target must be {TARGET_PREFIX}.<Operation>, "
                         f"not {target!r}.")
    return name


def _operation(name: str) -> Operation:
    if name not in OPERATIONS:
        raise AdminError("UnknownOperationException", f"Unknown operation {name}.")
    return OPERATIONS[name]


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise AdminError("RequestEntityTooLargeException",
                                 f"The request body exceeds {MAX_BODY_BYTES} bytes.", 413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise AdminError("SerializationException", "The client disconnected mid-body.") \
            from None
    return b"".join(chunks)


def _decode(body: bytes) -> object:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise AdminError("SerializationException",
                         f"The request body is not valid JSON: {exc}") from None
