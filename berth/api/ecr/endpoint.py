"""``POST /`` for the ECR API (AWS JSON 1.1): X-Amz-Target names the operation.

Order, as AWS does it: the target is read, the body read (bounded), the caller authenticated,
and only then is the operation looked up and the body decoded and validated, so an
unauthenticated client learns nothing about either. Errors a handler raises as EcrApiError go
to the client; anything else is logged and answered with ServerException, the only 500.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...iam.sigv4 import SigV4Error
from . import model
from .errors import (EcrApiError, error_response, json_response, render, serialization_error,
                     server_error, unknown_operation)
from .serialize import shape_output
from .validation import validate_input

log = logging.getLogger("berth.api.ecr")

# UploadLayerPart carries up to 20 MiB (the model's max), base64-encoded inside JSON.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ApiCall:
    operation: str
    params: dict[str, Any]     # validated: modeled members only, datetimes and bytes decoded
    caller: Any                # whatever authenticate returned
    request: Request
    request_id: str            # also sent as x-amzn-RequestId


Handler = Callable[[ApiCall], Awaitable[Mapping[str, Any] | None]]
# Returns the caller, or raises SigV4Error or EcrApiError.
Authenticate = Callable[[Request, bytes], Awaitable[Any]]


def make_endpoint(operations: Mapping[str, Handler], authenticate: Authenticate, *,
                  max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, path: str = "/") -> Route:
    unknown = sorted(set(operations) - model.operation_names())
    if unknown:
        raise ValueError(f"not ECR operations: {', '.join(unknown)}")
    # An ASGI app rather than a function, so the Route takes every method and we answer them.
    return Route(path, _EcrApi(dict(operations), authenticate, max_body_bytes), name="ecr")


class _EcrApi:
    def __init__(self, operations: dict[str, Handler], authenticate: Authenticate,
                 max_body_bytes: int):
        self.operations = operations
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        response = await self._respond(request, request_id)
        await response(scope, receive, send)

    async def _respond(self, request: Request, request_id: str) -> Response:
        name = "-"
        try:
            name = _operation_name(request)
            return await self._call(name, request, request_id)
        except SigV4Error as exc:
            log.info("request %s: authentication failed: %s", request_id, exc.code)
            return error_response(exc.code, exc.message, exc.http_status, request_id)
        except EcrApiError as exc:
            return render(exc, request_id)
        except Exception:
            # The traceback only: never the body, headers or credentials.
            log.exception("request %s: %s failed", request_id, name)
            return render(server_error(), request_id)

    async def _call(self, name: str, request: Request, request_id: str) -> Response:
        body = await _read_body(request, self.max_body_bytes)
        caller = await self.authenticate(request, body)
        handler = self._handler(name)
        operation = model.operation_model(name)
        params = validate_input(operation, _decode(body))
        result = await handler(ApiCall(operation=name, params=params, caller=caller,
                                       request=request, request_id=request_id))
        return json_response(shape_output(operation, result), 200, request_id)

    def _handler(self, name: str) -> Handler:
        if name in self.operations:
            return self.operations[name]
        if name in model.operation_names():
            raise unknown_operation(f"Operation {name} is not supported by this server yet.")
        raise unknown_operation(f"Unknown operation {name}.")


def _operation_name(request: Request) -> str:
    if request.method != "POST":
        # What AWS JSON endpoints do with anything but POST: no such operation, 404.
        raise unknown_operation(f"{request.method} is not supported; use POST.", status=404)
    target = request.headers.get("x-amz-target")
    if target is None:
        raise unknown_operation("Missing X-Amz-Target header.")
    prefix, dot, name = target.partition(".")
    if prefix != model.target_prefix() or not dot or not name:
        raise unknown_operation(f"Unknown operation {target}.")
    return name


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise serialization_error("The client disconnected mid-body.") from None
    return b"".join(chunks)


def _too_large(limit: int) -> EcrApiError:
    return EcrApiError("RequestEntityTooLargeException",
                       f"The request body exceeds {limit} bytes.", 413)


def _decode(body: bytes) -> object:
    if not body.strip():
        return {}  # an operation without input may come with no body at all
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise serialization_error(f"The request body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")
