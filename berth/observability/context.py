"""What the request middleware knows about the request being handled, for handlers to add to
and for log lines to carry: the request id (a context variable, so that every line logged
while handling the request names it, in threads too: anyio copies the context), and the facts
only a handler learns (who called, which registry and repository, which AWS operation, the
bytes a redirect hands to the storage), kept in the ASGI scope under ``FACTS``."""
from __future__ import annotations

import contextvars
import re
import uuid
from typing import Any, MutableMapping

FACTS = "berth.request"
HEADER = b"x-request-id"
# A request id a client may choose: bounded and harmless in a log line or a header.
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("berth_request_id",
                                                                     default="")


class RequestFacts:
    """Filled in by whoever learns them; read by the middleware once the response is out."""

    __slots__ = ("request_id", "principal_arn", "account_id", "region", "repository",
                 "operation", "parameters", "redirected_bytes")

    def __init__(self, request_id: str):
        self.request_id = request_id
        self.principal_arn = self.account_id = self.region = self.repository = ""
        self.operation = "-"  # an AWS JSON operation's name, when it is a known one
        self.parameters: dict | None = None  # its decoded request
        self.redirected_bytes = 0  # what the storage sends for a redirected answer


def new_request_id() -> str:
    return str(uuid.uuid4())  # the shape of ECR's x-amzn-RequestId


def chosen_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-Id when it is a sane one, else a new id."""
    for key, value in headers:
        if key == HEADER:
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if _SANE_ID.fullmatch(text):
                return text
            break
    return new_request_id()


def facts(scope: MutableMapping[str, Any]) -> RequestFacts | None:
    return scope.get(FACTS)


def request_id(scope: MutableMapping[str, Any]) -> str:
    """This request's id: the middleware's, or a new one where no middleware runs."""
    found = scope.get(FACTS)
    return found.request_id if found is not None else new_request_id()


def note_caller(scope: MutableMapping[str, Any], principal_arn: str, account_id: str = "",
                region: str = "") -> None:
    found = scope.get(FACTS)
    if found is not None:
        found.principal_arn = principal_arn
        if account_id:
            found.account_id, found.region = account_id, region


def note_operation(scope: MutableMapping[str, Any], name: str, known: bool) -> None:
    found = scope.get(FACTS)
    if found is not None and known:
        found.operation = name


def note_repository(scope: MutableMapping[str, Any], repository: Any) -> None:
    found = scope.get(FACTS)
    if found is not None and isinstance(repository, str):
        found.repository = repository


def note_parameters(scope: MutableMapping[str, Any], parameters: dict) -> None:
    found = scope.get(FACTS)
    if found is not None:
        found.parameters = parameters


def note_redirected_bytes(scope: MutableMapping[str, Any], count: int) -> None:
    """The answer redirects the client to the storage, which sends it ``count`` bytes."""
    found = scope.get(FACTS)
    if found is not None:
        found.redirected_bytes = count
