"""ECR error responses as AWS JSON 1.1 services send them: ``{"__type": code, "message": ...}``
with ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` headers.

Statuses: the model's exceptions carry no ``httpStatusCode``, so (as for every JSON 1.1 Coral
service) faults -- ServerException -- are 500 and the rest 400. AccessDeniedException and the
protocol errors (UnknownOperationException, SerializationException) are 400 too: JSON 1.1
services report client errors with 400 and put the distinction in ``__type``.
"""
from __future__ import annotations

from starlette.responses import Response

from ..awsjson import (
    CONTENT_TYPE,
    AwsJsonError,
    error_response,
    json_response,
    serialization_error,
    unknown_operation,
)
from . import model

# The ECR API's errors are the protocol's: one class for both AWS-style APIs.
EcrApiError = AwsJsonError


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


class KmsError(EcrApiError):
    """The model's KmsException, whose ``kmsError`` member says what KMS refused."""

    def __init__(self, message: str, kms_error: str):
        super().__init__("KmsException", message, model.exception_statuses()["KmsException"])
        self.kms_error = kms_error

    def body(self) -> dict[str, str]:
        return {**super().body(), "kmsError": self.kms_error}


def access_denied(message: str) -> EcrApiError:
    return EcrApiError("AccessDeniedException", message)


def server_error() -> EcrApiError:
    # Deliberately says nothing about the cause: details go to the server log only.
    return model_error("ServerException", "An internal error occurred. Try again later.")


def render(error: EcrApiError, request_id: str) -> Response:
    return json_response(error.body(), error.status, request_id,
                         {"x-amzn-ErrorType": error.code})


__all__ = ["CONTENT_TYPE", "EcrApiError", "KmsError", "access_denied", "error_response",
           "invalid_parameter", "json_response", "model_error", "render",
           "serialization_error", "server_error", "unknown_operation"]
