"""The AWS JSON 1.1 protocol both AWS-style APIs speak (the ECR API at ``POST /``, the admin
API at ``POST /admin``): ``X-Amz-Target: <Prefix>.<Operation>``, a bounded JSON body, a SigV4
signature, and errors as ``{"__type", "message"}`` with ``x-amzn-ErrorType``."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Collection

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..iam import replay
from .http.bodies import request_body
from ..iam.service import Iam
from ..iam.sigv4 import VerifiedRequest

CONTENT_TYPE = "application/x-amz-json-1.1"


class AwsJsonError(Exception):
    """An error to send to the client as it is."""

    def __init__(self, code: str, message: str = "", status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


def json_response(body: object, status: int, request_id: str,
                  headers: dict[str, str] | None = None) -> Response:
    # orjson: a 1,000-image page is ~400 KB of JSON, which the standard encoder took longer
    # to write than the database took to find.
    return Response(orjson.dumps(body), status_code=status,
                    media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": request_id, **(headers or {})})


def error_response(code: str, message: str, status: int, request_id: str) -> Response:
    return json_response({"__type": code, "message": message}, status, request_id,
                         {"x-amzn-ErrorType": code})


def unknown_operation(message: str, status: int = 400) -> AwsJsonError:
    return AwsJsonError("UnknownOperationException", message, status)


def serialization_error(message: str) -> AwsJsonError:
    """The body is not JSON, or a value has the wrong JSON type for its shape."""
    return AwsJsonError("SerializationException", message)


def operation_name(request: Request, prefix: str) -> str:
    """The operation ``X-Amz-Target`` names under ``prefix``."""
    if request.method != "POST":
        # What AWS JSON endpoints do with anything but POST: no such operation, 404.
        raise unknown_operation(f"{request.method} is not supported; use POST.", status=404)
    target = request.headers.get("x-amz-target")
    if target is None:
        raise unknown_operation("Missing X-Amz-Target header.")
    found, dot, name = target.partition(".")
    if found != prefix or not dot or not name:
        raise unknown_operation(f"Unknown operation {target}.")
    return name


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:  # off the socket where the server offers it; a stalled body is given up on
        async with contextlib.aclosing(request_body(request)) as body:
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except ClientDisconnect:
        raise serialization_error("The client disconnected mid-body.") from None
    return b"".join(chunks)


def _too_large(limit: int) -> AwsJsonError:
    return AwsJsonError("RequestEntityTooLargeException",
                        f"The request body exceeds {limit} bytes.", 413)


def decode(body: bytes) -> object:
    if not body.strip():
        return {}  # an operation without input may come with no body at all
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise serialization_error(f"The request body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError):  # numbers of thousands of digits, deep nesting
        raise serialization_error("The request body is not valid JSON: a value is too large "
                                  "or too deeply nested.") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def session_token(request: Request) -> str | None:
    """X-Amz-Security-Token, as a header or (presigned) in the query."""
    return request.headers.get("x-amz-security-token") or request.query_params.get(
        "X-Amz-Security-Token")


async def verify_signature(iam: Iam, request: Request, body: bytes, service: str,
                           regions: Collection[str] | None = None,
                           once: bool | None = None) -> VerifiedRequest:
    """The request's SigV4 signature checked by IAM, which runs it inline or in a thread;
    ``once`` (used up: a replay is refused) by default when the X-Amz-Target's operation may
    change state. Raises ``SigV4Error``."""
    if once is None:
        once = replay.changes_state(request.headers.get("x-amz-target"))
    return await iam.aio.verify(request.method, request.scope["raw_path"],
                                request.scope["query_string"], request.headers.raw, body,
                                service, regions, session_token(request), once)
