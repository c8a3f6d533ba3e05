"""ECR error responses as AWS JSON 1.1 services send them: ``{"__type": code, "message": ...}``
with ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` headers.

Statuses: the model's exceptions carry no ``httpStatusCode``, so (as for every JSON 1.1 Coral
service) faults -- ServerException -- are 500 and the rest 400. AccessDeniedException and the
protocol errors (UnknownOperationException, SerializationException) are 400 too: JSON 1.1
services report client errors with 400 and put the distinction in ``__type``.
"""
from __future__ import annotations

import json

from starlette.responses import Response

from . import model

CONTENT_TYPE = "application/x-amz-json-1.1"


class EcrApiError(Exception):
    """An error to send to the client as it is; handlers raise these."""

    def __init__(self, code: str, message: str = "", status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


def model_error(code: str, message: str = "") -> EcrApiError:
    """An error the ECR model declares (``RepositoryNotFoundException``, ...) with its status.
    Unknown names raise ValueError, so a typo cannot reach clients as a made-up code."""
    try:
        status = model.exception_statuses()[code]
    except KeyError:
        raise ValueError(f"the ECR model declares no exception {code!r}") from None
    return EcrApiError(code, message, status)


def invalid_parameter(message: str) -> EcrApiError:
    return model_error("InvalidParameterException", message)


def serialization_error(message: str) -> EcrApiError:
    """The body is not JSON, or a value has the wrong JSON type for its shape."""
    return EcrApiError("SerializationException", message)


def unknown_operation(message: str, status: int = 400) -> EcrApiError:
    return EcrApiError("UnknownOperationException", message, status)


def access_denied(message: str) -> EcrApiError:
    return EcrApiError("AccessDeniedException", message)


def server_error() -> EcrApiError:
    # Deliberately says nothing about the cause: details go to the server log only.
    return model_error("ServerException", "An internal error occurred. Try again later.")


def json_response(body: object, status: int, request_id: str,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": request_id, **(headers or {})})


def error_response(code: str, message: str, status: int, request_id: str) -> Response:
    return json_response({"__type": code, "message": message}, status, request_id,
                         {"x-amzn-ErrorType": code})


def render(error: EcrApiError, request_id: str) -> Response:
    return error_response(error.code, error.message, error.status, request_id)
