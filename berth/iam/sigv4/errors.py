"""The authentication failures, as AWS JSON 1.1 services (ECR among them) report them.

Each carries ``code`` (the ``__type`` of the error body), ``message`` and ``http_status``, so the
API layer renders ``{"__type": code, "message": message}`` with that status. JSON 1.1 services
answer every one of these with 400 (ECR's MissingAuthenticationTokenException and
UnrecognizedClientException are on record as 400; query-protocol services such as STS or SQS
use 403 for some of them, which is not the protocol spoken here).
"""
from __future__ import annotations

from typing import ClassVar


class SigV4Error(Exception):
    code: ClassVar[str] = "InternalFailure"
    http_status: ClassVar[int] = 400
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None):
        message = self.default_message if message is None else message
        # Messages quote what the client sent; undecodable bytes must not make them unsendable.
        self.message = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in message)
        super().__init__(self.message)

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


class MissingAuthenticationToken(SigV4Error):
    """Neither an Authorization header nor X-Amz-Algorithm in the query string."""
    code = "MissingAuthenticationTokenException"
    default_message = "Missing Authentication Token"


class IncompleteSignature(SigV4Error):
    """The signature parameters are malformed or incomplete."""
    code = "IncompleteSignatureException"


class InvalidSignature(SigV4Error):
    """Well-formed, but wrong: bad signature, scope, clock skew, expiry, unsigned host, body."""
    code = "InvalidSignatureException"
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.")

    def __init__(self, message: str | None = None, *, canonical_request: str | None = None,
                 string_to_sign: str | None = None):
        super().__init__(message)
        # For server-side logs only: what the client should have signed. Not in the message.
        self.canonical_request = canonical_request
        self.string_to_sign = string_to_sign


class UnrecognizedClient(SigV4Error):
    """The access key id is unknown."""
    code = "UnrecognizedClientException"
    default_message = "The security token included in the request is invalid."


class ExpiredToken(SigV4Error):
    """Temporary credentials past their expiry; raised by a ``lookup_secret`` callback."""
    code = "ExpiredTokenException"
    default_message = "The security token included in the request is expired"
