"""What secrets are made of: a name per account and region, a random suffix its ARN keeps
for life (as Secrets Manager's does), and a JSON value that only ``SecretService`` opens.
No error message ever quotes a value."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")  # Secrets Manager's secret names
SUFFIXED = re.compile(r"-.{6}$")  # would read as NAME-SUFFIX: Secrets Manager refuses it
ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]{1,32}):(\d{12}):secret:"
                 r"([A-Za-z0-9/_+=.@-]{1,519})$")
PULL_THROUGH = "ecr-pullthroughcache/"  # ECR's prefix for pull-through cache credentials
ACCESS_KEY_MEMBERS = ("accessKeyId", "secretAccessKey")
CREDENTIAL_MEMBERS = ("username", "accessToken")
MAX_VALUE = 65536  # bytes, as Secrets Manager's SecretString


class SecretError(Exception):
    """A request about secrets that cannot be honoured: ``code`` is the AWS-style error code,
    ``status`` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class SecretNotFound(SecretError):
    """No such secret, or an ARN that names none (ECR: SecretNotFoundException)."""

    def __init__(self, message: str):
        super().__init__("SecretNotFoundException", message, 404)


class SecretUnreadable(SecretError):
    """The stored value does not open with this master key (ECR:
    UnableToDecryptSecretValueException)."""

    def __init__(self, message: str):
        super().__init__("UnableToDecryptSecretValueException", message, 400)


def invalid(message: str) -> SecretError:
    return SecretError("ValidationError", message)


@dataclass(frozen=True)
class Secret:
    """A secret's description: never its value."""
    account_id: str
    region: str
    name: str
    suffix: str
    created_at: float
    updated_at: float

    @property
    def arn(self) -> str:
        return arn(self.region, self.account_id, self.name, self.suffix)

    @classmethod
    def from_row(cls, row) -> "Secret":
        return cls(row.account_id, row.region, row.name, row.suffix, row.created_at,
                   row.updated_at)


def arn(region: str, account: str, name: str, suffix: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def parse_arn(text: str) -> tuple[str, str, str, str | None]:
    """(region, account, name, suffix or None for a partial ARN); SecretNotFound when
    ``text`` is no secret's ARN (names never end as a suffix does, so the two cannot mix)."""
    found = ARN.match(text) if isinstance(text, str) else None
    if found is None:
        raise SecretNotFound("the secret ARN is malformed")
    region, account, resource = found.groups()
    if SUFFIXED.search(resource):
        return region, account, resource[:-7], resource[-6:]
    return region, account, resource, None


def owned_by(text: str, account: str, region: str) -> bool:
    """Whether ``text`` is a secret ARN of ``account`` in ``region``: what a registry may
    use (its own secrets only, never another account's). Whether such a secret exists is
    ``resolve``'s to say."""
    parts = text.split(":", 6) if isinstance(text, str) else []
    return (len(parts) == 7 and parts[0] == "arn" and parts[2:6:3] == ["secretsmanager",
                                                                       "secret"]
            and (parts[3], parts[4]) == (region, account))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("a secret name is 1 to 512 letters, digits or characters of /_+=.@-")
    if SUFFIXED.search(name):
        raise invalid("a secret name must not end with a hyphen followed by six characters")
    return name


def check_value(name: str, value: str) -> bytes:
    """The value's bytes, once it is a JSON object (with ECR's credential members for a
    pull-through cache secret)."""
    data = value.encode() if isinstance(value, str) else b""
    if not data:
        raise invalid("SecretString must be a JSON object")
    if len(data) > MAX_VALUE:
        raise invalid(f"SecretString must be at most {MAX_VALUE} bytes")
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):  # not chained: the parser's error holds the text
        found = None
    if not isinstance(found, dict):
        raise invalid("SecretString must be a JSON object")
    if name.startswith(PULL_THROUGH) and not any(
            all(isinstance(found.get(m), str) and found[m] for m in members)
            for members in (CREDENTIAL_MEMBERS, ACCESS_KEY_MEMBERS)):
        raise invalid(f"a secret named {PULL_THROUGH}... must hold the non-empty strings "
                      f"{' and '.join(CREDENTIAL_MEMBERS)} (a registry login), or "
                      f"{' and '.join(ACCESS_KEY_MEMBERS)} (an access key of an ECR-speaking "
                      "registry: ECR, another Berth)")
    return data
