"""Key-encryption keys as Berth's key store shows them: KMS-style customer keys per account
and region (ids, ARNs, enabled or disabled, versions added by rotation), an account's managed
default key (alias ``aws/ecr``, made on first use as AWS makes its managed key), and the
deployment's own key behind AES256 repositories."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..storage.blobs.keyring import DEPLOYMENT_KEY, KeyUnavailable

MANAGED_ALIAS = "aws/ecr"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY_ID = re.compile(_UUID)
_ARN = re.compile(r"arn:aws:kms:([a-z0-9-]+):([0-9]{12}):(key/(" + _UUID + r")|alias/(.+))")
_ALIAS = re.compile(r"alias/(.+)")


class KeyServiceError(Exception):
    """A key request that cannot be done; ``code`` names it as KMS would."""
    code = "ValidationException"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KeyNotFound(KeyServiceError):
    code = "NotFoundException"
    status = 404


class KeyDisabled(KeyServiceError):
    code = "DisabledException"


class KeyUnsupported(KeyServiceError):
    """What AWS refuses for its managed keys (disabling, enabling)."""
    code = "UnsupportedOperationException"


class KeyRefused(KeyUnavailable):
    """KeyUnavailable from Berth's key store, with what KMS would call the refusal
    (DisabledException, NotFoundException, InvalidCiphertextException)."""

    def __init__(self, message: str, key_ref: str, arn: str | None, kms_error: str):
        super().__init__(message, key_ref, arn)
        self.kms_error = kms_error


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account_id}:key/{key_id}"


def key_ref(key_id: str) -> str:
    """The key ref (berth.storage.blobs.keyring) of a key id."""
    return key_id if key_id == DEPLOYMENT_KEY else f"kms-{key_id}"


def key_id_of(ref: str) -> str:
    return ref if ref == DEPLOYMENT_KEY else ref.removeprefix("kms-")


@dataclass(frozen=True)
class KeySpec:
    """A key as a request names it: by id or by alias, in an account and region."""
    account_id: str
    region: str
    key_id: str | None = None
    alias: str | None = None

    @property
    def arn(self) -> str:
        if self.key_id is not None:
            return key_arn(self.region, self.account_id, self.key_id)
        return f"arn:aws:kms:{self.region}:{self.account_id}:alias/{self.alias}"


def parse_key_spec(text: str, account_id: str, region: str) -> KeySpec:
    """A key id, ``alias/<name>``, or the ARN of either (whose account and region win over
    the defaults given). Raises KeyNotFound for anything else, as KMS does."""
    text = text.strip()
    if _KEY_ID.fullmatch(text):
        return KeySpec(account_id, region, key_id=text)
    alias = _ALIAS.fullmatch(text)
    if alias:
        return KeySpec(account_id, region, alias=alias.group(1))
    arn = _ARN.fullmatch(text)
    if arn:
        return KeySpec(arn.group(2), arn.group(1), key_id=arn.group(4), alias=arn.group(5))
    raise KeyNotFound(f"Invalid keyId '{text}': give a key id, an alias or the ARN of either")


@dataclass(frozen=True)
class Key:
    id: str
    account_id: str
    region: str
    alias: str | None          # MANAGED_ALIAS for an account's managed default key
    description: str
    enabled: bool
    created_at: float
    version: int               # the current version: it wraps new data keys
    version_created_at: float

    @property
    def arn(self) -> str:
        return key_arn(self.region, self.account_id, self.id)

    @property
    def ref(self) -> str:
        return key_ref(self.id)

    @property
    def managed(self) -> bool:
        return self.alias == MANAGED_ALIAS

    @classmethod
    def from_row(cls, row) -> "Key":
        return cls(row.id, row.account_id, row.region, row.alias, row.description,
                   bool(row.enabled), row.created_at, row.version, row.version_created_at)
