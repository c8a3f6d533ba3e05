"""AWS Signature Version 4, verified server-side: ``verify_request`` takes a received request
and returns a ``VerifiedRequest`` or raises one of the ``SigV4Error`` subclasses, each of which
the API layer renders as ``{"__type": e.code, "message": e.message}`` with ``e.http_status``."""
from .errors import (
                     ExpiredToken,
                     IncompleteSignature,
                     InvalidSignature,
                     MissingAuthenticationToken,
                     SigV4Error,
                     UnrecognizedClient,
)
from .verify import DEFAULT_MAX_SKEW, VerifiedRequest, verify_request

__all__ = [
    "DEFAULT_MAX_SKEW", "ExpiredToken", "IncompleteSignature", "InvalidSignature",
    "MissingAuthenticationToken", "SigV4Error", "UnrecognizedClient", "VerifiedRequest",
    "verify_request",
]
