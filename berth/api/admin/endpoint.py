"""``POST /admin``: the admin API, AWS JSON 1.1 style (``X-Amz-Target:
BerthAdmin_20261122.<Operation>``), SigV4-signed for service ``berth`` in any region (like
IAM, it is not regional).

Order, as AWS JSON services do it: target, body (bounded), signature; only an authenticated
caller learns whether the operation exists and what is wrong with its parameters. Client
mistakes are 4xx with ``{"__type", "message"}``; a 500 means a bug, logged here."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...concurrency import blocking
from ...iam.authentication import Caller
from ...iam.service import Iam
from ...iam.sigv4 import SigV4Error
from ...observability import context as observed
from ...observability import metrics
from .. import awsjson
from ..credentials import scrubbing
from .access import authorize
from .errors import AdminError, translate
from .operations import TARGET_PREFIX, Operation, validate
from .table import OPERATIONS

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
    name, request_id = "-", observed.request_id(request.scope)
    try:
        name = awsjson.operation_name(request, TARGET_PREFIX)
        observed.note_operation(request.scope, name, name in OPERATIONS)
        body = await awsjson.read_body(request, MAX_BODY_BYTES)
        iam = request.app.state.iam
        verified = await _verify(request, iam, body)
        observed.note_caller(request.scope, verified.identity.principal.arn,
                             verified.identity.account_id, "")
        op = _operation(name)
        result = await blocking(_run, iam, verified.identity, op, body,
                                getattr(request.app.state, "registry", None), request.scope)
        return awsjson.json_response(result, 200, request_id)
    except SigV4Error as exc:
        log.info("admin %s: authentication failed: %s", name, exc.code)
        metrics.refused("admin", "throttled" if exc.code == "ThrottlingException"
                        else "unauthenticated")
        return awsjson.error_response(exc.code, exc.message, exc.http_status, request_id)
    except Exception as exc:
        error = translate(exc)
        if error is None:
            log.exception("admin %s failed", name)  # never the body: it may hold policies
            error = AdminError("InternalFailure", "An internal error occurred.", 500)
        return awsjson.error_response(error.code, error.message, error.status, request_id)


@scrubbing
async def _verify(request: Request, iam: Iam, body: bytes):
    # Like IAM, the admin API is not regional: any signing region will do.
    return await awsjson.verify_signature(iam, request, body, SERVICE)


def _run(iam: Iam, caller: Caller, op: Operation, body: bytes, registry, scope) -> dict:
    params = awsjson.decode(body)  # in this thread: never CPU work on the event loop
    if op.per_account and isinstance(params, dict) and params.get("AccountId") is None:
        params["AccountId"] = caller.account_id  # like IAM: your own account by default
    params = validate(op, params)
    observed.note_parameters(scope, params)  # for the audit trail (secrets are left out there)
    authorize(iam, caller, op, params)
    result = op.handler(registry if op.storage else iam, params)
    log.info("admin %s by %s (account %s)", op.name, caller.principal.arn,
             params.get("AccountId", "-"))
    return result


def _operation(name: str) -> Operation:
    if name not in OPERATIONS:
        raise AdminError("UnknownOperationException", f"Unknown operation {name}.")
    return OPERATIONS[name]
