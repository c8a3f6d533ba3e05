"""``POST /`` for the ECR API (AWS JSON 1.1): X-Amz-Target names the operation.

Order, as AWS does it: the target is read, the body read (bounded by what the operation's
model allows), the caller authenticated, and only then is the operation looked up and the body
decoded and validated (in a thread when it is large), so an unauthenticated client learns
nothing about either and no caller can hold the event loop. A handler is a plain function, run
here in a thread (it calls the domain as it is), or a coroutine that streams through the
domain's async entry points: handlers never choose threads. Errors a handler raises as
EcrApiError go to the client; anything else is logged and answered with ServerException, the
only 500.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...concurrency import blocking
from ...iam.sigv4 import SigV4Error
from ...observability import context as observed
from ...observability import metrics
from ...registry.errors import KeyUnavailable
from ...registry.errors import StorageFull
from ..http.admission import BodyGate, TooManyRequests
from .. import awsjson
from . import model
from .body_limits import max_body_bytes
from .errors import (
    EcrApiError,
    KmsError,
    error_response,
    json_response,
    render,
    server_error,
    unknown_operation,
)
from .serialize import shape_output
from .translation import Where, storage_full, translate
from .validation import validate_input

log = logging.getLogger("berth.api.ecr")

# UploadLayerPart carries up to 20 MiB (the model's max), base64-encoded inside JSON; each
# operation's own bound (body_limits) is usually far smaller.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# Bodies up to this size are decoded and validated on the event loop (cheaper than a hop).
INLINE_DECODE_BYTES = 64 * 1024
# Names the model does not have: no valid call, so no large body either.
UNKNOWN_OPERATION_BYTES = 64 * 1024


@dataclass(frozen=True)
class ApiCall:
    operation: str
    params: dict[str, Any]     # validated: modeled members only, datetimes and bytes decoded
    caller: Any                # whatever authenticate returned
    request: Request
    request_id: str            # also sent as x-amzn-RequestId
    # What the handler found out that error messages name (the registry it addressed).
    context: dict[str, Any] = field(default_factory=dict)


Result = Mapping[str, Any] | None
Handler = Callable[[ApiCall], Result] | Callable[[ApiCall], Awaitable[Result]]
# Returns the caller, or raises SigV4Error or EcrApiError.
Authenticate = Callable[[Request, bytes], Awaitable[Any]]


def make_endpoint(operations: Mapping[str, Handler], authenticate: Authenticate, *,
                  max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, path: str = "/",
                  service: model.Service = model.ECR) -> Route:
    """The JSON 1.1 endpoint of ``service`` (ECR's, or ECR Public's: the same protocol)."""
    unknown = sorted(set(operations) - service.operation_names)
    if unknown:
        raise ValueError(f"not {service.name} operations: {', '.join(unknown)}")
    # An ASGI app rather than a function, so the Route takes every method and we answer them.
    return Route(path, _EcrApi(dict(operations), authenticate, max_body_bytes, service),
                 name=service.name)


class _EcrApi:
    def __init__(self, operations: dict[str, Handler], authenticate: Authenticate,
                 max_body_bytes: int, service: model.Service):
        self.operations = operations
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.service = service
        self.label = service.name.replace("-", "_")  # of metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = observed.request_id(scope)  # the request log's, also X-Request-Id
        response = await self._respond(request, request_id)
        await response(scope, receive, send)

    async def _respond(self, request: Request, request_id: str) -> Response:
        name = "-"
        try:
            name = awsjson.operation_name(request, self.service.target_prefix)
            observed.note_operation(request.scope, name, name in self.service.operation_names)
            return await self._call(name, request, request_id)
        except SigV4Error as exc:
            log.info("request %s: authentication failed: %s", request_id, exc.code)
            metrics.refused(self.label, "throttled" if exc.code == "ThrottlingException"
                            else "unauthenticated")
            return error_response(exc.code, exc.message, exc.http_status, request_id)
        except EcrApiError as exc:
            return render(exc, request_id)
        except TooManyRequests as exc:
            metrics.refused(self.label, "throttled")
            return error_response("ThrottlingException", str(exc), 400, request_id)
        except StorageFull as exc:  # also before any handler: the replay ledger's write
            return render(storage_full(exc), request_id)
        except KeyUnavailable as exc:  # the repository's key is disabled: KMS refuses
            reason = getattr(exc, "kms_error", "KMSInvalidStateException")
            return render(KmsError(str(exc), reason), request_id)
        except Exception:
            # The traceback only: never the body, headers or credentials.
            log.exception("request %s: %s failed", request_id, name)
            return render(server_error(), request_id)

    async def _call(self, name: str, request: Request, request_id: str) -> Response:
        if _declared_length(request) <= INLINE_DECODE_BYTES:
            body = await awsjson.read_body(request, self._limit(name))
            caller = await self.authenticate(request, body)
            handler, operation = self._handler(name), self.service.operation_model(name)
            params = _decoded(operation, body)
        else:  # read and decoded in a place of the client address's (429 if none is free)
            with _admitted(request):
                body = await awsjson.read_body(request, self._limit(name))
                caller = await self.authenticate(request, body)
                handler, operation = self._handler(name), self.service.operation_model(name)
                params = await blocking(_decoded, operation, body)
        _observe(request, caller, params)
        call = ApiCall(operation=name, params=params, caller=caller, request=request,
                       request_id=request_id)
        try:
            result = await run_handler(handler, call)
        except EcrApiError:
            raise
        except Exception as exc:  # a domain error: the table words it, or it is a bug
            error = translate(exc, where_of(call))
            if error is None:
                raise
            raise error from None
        return json_response(shape_output(operation, result), 200, request_id)

    def _limit(self, name: str) -> int:
        if name not in self.service.operation_names:
            return min(self.max_body_bytes, UNKNOWN_OPERATION_BYTES)
        return min(self.max_body_bytes, max_body_bytes(name, self.service))

    def _handler(self, name: str) -> Handler:
        if name in self.operations:
            return self.operations[name]
        if name in self.service.operation_names:
            raise unknown_operation(f"Operation {name} is not supported by this server yet.")
        raise unknown_operation(f"Unknown operation {name}.")


def _observe(request: Request, caller: Any, params: dict[str, Any]) -> None:
    """Who called and which repository, for the request log."""
    identity = getattr(caller, "identity", None)
    if identity is not None:
        observed.note_caller(request.scope, identity.principal.arn, identity.account_id,
                             getattr(caller, "region", ""))
    observed.note_repository(request.scope, params.get("repositoryName"))
    observed.note_parameters(request.scope, params)


def _declared_length(request: Request) -> int:
    """The body's Content-Length; a body without one is treated as large."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() and len(declared) < 19 else 2**62


def _admitted(request: Request):
    gate: BodyGate | None = getattr(request.app.state, "body_gate", None)
    if gate is None:
        return contextlib.nullcontext()
    return gate.admit(None, request.client.host if request.client else "")


def _decoded(operation, body: bytes) -> dict[str, Any]:
    return validate_input(operation, awsjson.decode(body))


async def run_handler(handler: Handler, call: ApiCall) -> Result:
    """A coroutine handler awaited; a plain one run in a thread (the one place that chooses)."""
    if inspect.iscoroutinefunction(handler):
        return await handler(call)
    return await blocking(handler, call)


def where_of(call: ApiCall) -> Where:
    registry = call.context.get("registry") or getattr(
        getattr(call.caller, "identity", None), "account_id", "")
    repository = call.context.get("repository") or call.params.get("repositoryName")
    return Where(call.operation, registry, repository, call.params)
