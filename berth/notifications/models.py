"""What notifications are made of: webhook targets (an account's URL, EventBridge pattern and
optional HMAC secret) and deliveries (one event to one target)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .patterns import PatternError, compile_pattern

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # as EventBridge names rules
MAX_URL = 2048
MAX_SECRET = 512


class NotificationError(Exception):
    """A request about notifications that cannot be honoured: ``code`` is the AWS-style error
    code (ValidationError, ResourceNotFoundException), ``status`` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def invalid(message: str) -> NotificationError:
    return NotificationError("ValidationError", message)


def not_found(what: str) -> NotificationError:
    return NotificationError("ResourceNotFoundException", f"{what} does not exist", 404)


@dataclass(frozen=True)
class Target:
    id: str
    account_id: str
    name: str
    url: str
    pattern: dict
    has_secret: bool
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row) -> "Target":
        return cls(row.id, row.account_id, row.name, row.url, json.loads(row.pattern),
                   row.secret is not None, row.created_at, row.updated_at)


@dataclass(frozen=True)
class Delivery:
    seq: int
    id: str
    target_id: str
    repository: str
    event_id: str
    body: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row) -> "Delivery":
        return cls(*row[:12])


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("a target name is 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; never one with credentials in it (they would
    be shown by every listing)."""
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= MAX_URL else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("the target URL must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise invalid("the target URL must not hold credentials: use a secret instead")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise invalid("the target URL has an invalid port") from None
    return url


def check_pattern(text: str | dict) -> dict:
    try:
        return compile_pattern(text)
    except PatternError as exc:
        raise invalid(f"Event pattern is not valid. Reason: {exc}") from None


def check_secret(secret: str | None) -> bytes | None:
    if secret is None or secret == "":
        return None
    if len(secret) > MAX_SECRET:
        raise invalid(f"the secret must be at most {MAX_SECRET} characters")
    return secret.encode()
