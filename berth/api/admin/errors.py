"""Admin API errors as AWS JSON 1.1 services send them: ``{"__type": code, "message": ...}``.

One exception type, ``AdminError``, for the server (rendered as a response) and the client
(raised from a response); ``translate`` maps the domain's exceptions onto it."""
from __future__ import annotations

import json

from starlette.responses import Response

from ...iam.authorization import AccessDenied
from ...iam.identities import IdentityError
from ...iam.policy import PolicyError

CONTENT_TYPE = "application/x-amz-json-1.1"
# IAM's statuses for its own codes; anything else a client got wrong is a 400.
_IDENTITY_STATUS = {"NoSuchEntity": 404, "EntityAlreadyExists": 409}


class AdminError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


def validation_error(message: str) -> AdminError:
    return AdminError("ValidationError", message)


def translate(exc: Exception) -> AdminError | None:
    """The AdminError for a domain exception, or None for one that is not the client's fault."""
    if isinstance(exc, AdminError):
        return exc
    if isinstance(exc, IdentityError):
        return AdminError(exc.code, exc.message, _IDENTITY_STATUS.get(exc.code, 400))
    if isinstance(exc, PolicyError):
        return AdminError("MalformedPolicyDocument", str(exc))
    if isinstance(exc, AccessDenied):
        return AdminError("AccessDeniedException", exc.message)
    return None


def json_response(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type=CONTENT_TYPE, headers=headers)


def error_response(code: str, message: str, status: int) -> Response:
    return json_response({"__type": code, "message": message}, status,
                         {"x-amzn-ErrorType": code})
