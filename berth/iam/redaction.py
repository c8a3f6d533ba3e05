"""Error messages never carry credentials. SigV4's parser quotes a malformed Authorization
header back, as AWS does; a registry token sent to the wrong API (or a secret pasted into the
wrong field) must not come back with it, nor reach a log. So whatever a request carries as a
credential is cut out of such a message, whole and piece by piece."""
from __future__ import annotations

import re
from typing import Iterable

from .sigv4 import SigV4Error

PLACEHOLDER = "<credentials>"
CREDENTIAL_HEADERS = frozenset({"authorization", "x-amz-security-token"})
CREDENTIAL_PARAMS = frozenset({"X-Amz-Credential", "X-Amz-Signature", "X-Amz-Security-Token",
                               "WebIdentityToken"})
# Shorter pieces guard no secret worth the name and would mangle the words around them.
_MIN_PIECE = 4
# The protocol's own words, quoted by its messages, are no one's secret.
_VOCABULARY = frozenset({"basic", "bearer", "aws4-hmac-sha256", "credential",
                         "signedheaders", "signature"})


def credentials_in(headers: Iterable[tuple[bytes, bytes]],
                   query: Iterable[tuple[str, str]] = ()) -> list[str]:
    """The credential values of a request: ASGI header pairs, decoded query pairs."""
    found = [value.decode("latin-1") for name, value in headers
             if name.decode("latin-1").lower() in CREDENTIAL_HEADERS]
    return found + [value for name, value in query if name in CREDENTIAL_PARAMS]


def without_credentials(message: str, credentials: Iterable[str]) -> str:
    for piece in _pieces(credentials):
        message = message.replace(piece, PLACEHOLDER)
    return message


def scrubbed(exc: SigV4Error, credentials: Iterable[str]) -> SigV4Error:
    """``exc`` with its message cut as ``without_credentials`` does."""
    exc.message = without_credentials(exc.message, credentials)
    exc.args = (exc.message,)
    return exc


def _pieces(credentials: Iterable[str]) -> list[str]:
    """Each value, its tokens (as the parser splits them) and the halves of each
    ``key=value``; longest first, so a whole is cut before its parts."""
    found: set[str] = set()
    for value in credentials:
        found.add(value.strip())
        for token in re.split(r"[\s,]+", value):
            found.add(token)
            found.update(token.split("=", 1))
    return sorted((p for p in found if len(p) >= _MIN_PIECE and p.lower() not in _VOCABULARY),
                  key=len, reverse=True)
