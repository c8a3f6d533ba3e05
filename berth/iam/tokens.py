"""Registry tokens (what GetAuthorizationToken hands out and ``docker login`` sends back):
``v1.<claims>.<mac>``, HMAC-SHA256 under a signing key that the database keeps sealed by the
master key. A token names the access key that minted it and the region it was minted in (the
registry a plain host addresses); whether that key (and so the token) still works is decided
at each request, not here."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import time
from dataclasses import dataclass

from ..keys.master import MasterKey
from ..storage.metadata import registries as rows
from ..storage.metadata.database import Database, Tx

_PREFIX = "v1."
_MAX_VERIFIED = 10_000


class TokenError(Exception):
    """A token that is malformed, tampered with, signed by an unknown key, or expired."""


@dataclass(frozen=True)
class Claims:
    access_key_id: str
    issued_at: float
    expires_at: float
    region: str | None = None  # None: minted before tokens named their region


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    def __init__(self, db: Database, master: MasterKey, lifetime_seconds: int):
        self.db = db
        self.master = master
        self.lifetime = lifetime_seconds
        self._keys: dict[str, bytes] = {}  # rows never change, so no invalidation
        self._verified: dict[str, Claims] = {}

    def ensure_signing_key(self, tx: Tx) -> None:
        if rows.newest_signing_key(tx) is None:
            self._insert_key(tx)

    def check_master_key(self) -> None:
        """Raise MasterKeyError now, at start-up, if the master key is not this database's."""
        with self.db.read() as tx:
            row = rows.newest_signing_key(tx)
        if row is not None:
            self._remember(row.id, row.secret)

    def rotate(self) -> str:
        """A new signing key signs from now on; tokens signed by older ones stay valid."""
        with self.db.write() as tx:
            return self._insert_key(tx)

    def _insert_key(self, tx: Tx) -> str:
        key_id = os.urandom(8).hex()
        rows.insert_signing_key(tx, key_id, self.master.seal(os.urandom(32), _context(key_id)))
        return key_id

    def mint(self, access_key_id: str, now: float | None = None,
             region: str | None = None, not_after: float | None = None) -> tuple[str, float]:
        """A token for the key; ``not_after``: when the key itself lapses (temporary
        credentials), which the token never outlives."""
        now = time.time() if now is None else now
        with self.db.read() as tx:
            row = rows.newest_signing_key(tx)
        if row is None:
            raise RuntimeError("no token signing key: the bootstrap has not run")
        secret = self._remember(row.id, row.secret)
        expires = now + self.lifetime if not_after is None else min(now + self.lifetime,
                                                                     not_after)
        # Rounded down: a token must never claim to be younger than it is (revocation
        # compares issue times).
        claims = {"k": access_key_id, "s": row.id, "i": math.floor(now * 1000) / 1000,
                  "e": math.floor(expires * 1000) / 1000,
                  "n": os.urandom(6).hex()}
        if region is not None:
            claims["r"] = region
        body = _PREFIX + _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{_b64(_mac(secret, body))}", expires

    def verify(self, token: str, now: float | None = None) -> Claims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check(token)
            if len(self._verified) >= _MAX_VERIFIED:
                self._verified.clear()
            self._verified[token] = claims
        if (time.time() if now is None else now) >= claims.expires_at:
            raise TokenError("the registry token has expired")
        return claims

    def _check(self, token: str) -> Claims:
        """Signature and form; a token that passes always will (signing keys never change)."""
        body, _, mac = token.rpartition(".")
        if not body.startswith(_PREFIX):
            raise TokenError("not a registry token")
        try:
            claims = json.loads(_unb64(body[len(_PREFIX):]))
            signature = _unb64(mac)
            key_id, issued, expires = claims["s"], float(claims["i"]), float(claims["e"])
            access_key_id, region = claims["k"], claims.get("r")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise TokenError("malformed registry token") from None
        if not all(isinstance(v, str) for v in (key_id, access_key_id, region or "")):
            raise TokenError("malformed registry token")
        secret = self.signing_secret(key_id)
        if secret is None or not hmac.compare_digest(_mac(secret, body), signature):
            raise TokenError("the registry token's signature does not verify")
        return Claims(access_key_id, issued, expires, region)

    def signing_secret(self, key_id: str) -> bytes | None:
        """A signing key's secret (for other signatures Berth makes, such as download URLs),
        None for an unknown id."""
        found = self._keys.get(key_id)
        if found is None:
            with self.db.read() as tx:
                row = rows.signing_key(tx, key_id)
            if row is None:
                return None
            found = self._remember(row.id, row.secret)
        return found

    def _remember(self, key_id: str, sealed: bytes) -> bytes:
        secret = self._keys.get(key_id)
        if secret is None:
            secret = self._keys[key_id] = self.master.open(bytes(sealed), _context(key_id))
        return secret


def _context(key_id: str) -> str:
    return f"token-signing-key:{key_id}"


def _mac(secret: bytes, body: str) -> bytes:
    return hmac.new(secret, body.encode(), hashlib.sha256).digest()
