"""Presigned blob URLs (what GetDownloadUrlForLayer hands out): query parameters that let one
GET of one blob of one registry through the gate, without an Authorization header, until
they expire. A URL names its registry (for a plain host, which names none). The MAC is keyed
by a token signing key (through a derived key, so a URL MAC can never pass for a token's);
the key that asked stays accountable: at each use it must still be active and allowed
``ecr:GetDownloadUrlForLayer`` on the repository."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from typing import Any, Mapping
from urllib.parse import urlencode

from ..storage.metadata import registries as registry_rows
from .authentication import Unauthenticated
from .service import Admission, Iam
from .tenancy import RegistryAddress

ACTION = "ecr:GetDownloadUrlForLayer"
LIFETIME_SECONDS = 15 * 60
CREDENTIAL, KEY, EXPIRES, SIGNATURE = ("X-Berth-Credential", "X-Berth-Key", "X-Berth-Expires",
                                       "X-Berth-Signature")
REGISTRY = "X-Berth-Registry"  # <account>:<region>
_CONTEXT = b"berth presigned blob URL v1"


def carries_signature(query: Mapping[str, str]) -> bool:
    return SIGNATURE in query


def sign(gate: Iam, address: RegistryAddress, path: str, access_key_id: str,
         now: float | None = None) -> str:
    """The query string that authorizes GET ``path`` on the registry at ``address``."""
    with gate.db.read() as tx:
        key_id = registry_rows.newest_signing_key(tx).id
    expires = math.floor((time.time() if now is None else now) + LIFETIME_SECONDS)
    mac = _mac(gate, key_id, "GET", address, path, expires, access_key_id)
    return urlencode({CREDENTIAL: access_key_id, KEY: key_id, EXPIRES: str(expires),
                      REGISTRY: f"{address.account_id}:{address.region}",
                      SIGNATURE: _b64(mac)})


def admit(gate: Iam, method: str, address: RegistryAddress | None, path: str,
          query: Mapping[str, str], repository: str, keys: dict[str, Any] | None = None,
          now: float | None = None) -> Admission:
    """The gate for a presigned request (blocking) at the registry ``address`` names (None:
    a plain host, the URL's own). Raises Unauthenticated for a malformed, tampered or
    expired URL or an inactive key; AccessDenied if the key may no longer."""
    try:
        access_key_id, key_id = query[CREDENTIAL], query[KEY]
        expires, signature = int(query[EXPIRES]), _unb64(query[SIGNATURE])
        address = address or _named(gate, query.get(REGISTRY))
    except (KeyError, ValueError, binascii.Error):
        raise Unauthenticated("malformed presigned URL") from None
    expected = _mac(gate, key_id, method, address, path, expires, access_key_id)
    if expected is None or not hmac.compare_digest(expected, signature):
        raise Unauthenticated("the presigned URL's signature does not verify")
    if (time.time() if now is None else now) >= expires:
        raise Unauthenticated("the presigned URL has expired")
    with gate.db.read() as tx:
        record = gate.authenticator.key(tx, gate.cache.entries(tx), access_key_id)
    if record is None or not record.active or record.caller.expires_at is not None and (
            time.time() if now is None else now) >= record.caller.expires_at:
        raise Unauthenticated("the presigned URL's access key is not active")
    registry_id = gate.authorize(record.caller, ACTION, address, repository, keys)
    return Admission(record.caller, registry_id, address)


def _named(gate: Iam, registry: str | None) -> RegistryAddress:
    """The registry a URL names; a URL older than the parameter was the default's."""
    if registry is None:
        return gate.tenancy.default
    account, region = registry.split(":")  # the MAC checks both
    return RegistryAddress(account, region)


def _mac(gate: Iam, key_id: str, method: str, address: RegistryAddress, path: str,
         expires: int, access_key_id: str) -> bytes | None:
    secret = gate.tokens.signing_secret(key_id)
    if secret is None:
        return None
    derived = hmac.new(secret, _CONTEXT, hashlib.sha256).digest()
    message = "\n".join([method, address.account_id, address.region, path, str(expires),
                         access_key_id, key_id])
    return hmac.new(derived, message.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
