"""Console sessions: signing in with an access key's id and secret opens a session known by a
random token (the browser's cookie; only its SHA-256 is stored), with a CSRF token of its
own, for SESSION_SECONDS at most. Each request resumes it as the key's holder now, so a key
deactivated or deleted ends its sessions at once; signing out removes the row."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..storage.metadata import console as rows
from .authentication import Caller, Unauthenticated
from .service import Iam

SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class ConsoleSession:
    caller: Caller
    csrf: str
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, iam: Iam, lifetime: int = SESSION_SECONDS):
        self.iam, self.lifetime = iam, lifetime

    def sign_in(self, access_key_id: str, secret: str) -> tuple[str, ConsoleSession]:
        """A new session's token (Unauthenticated: no such active key, or not its secret;
        one message for both, so that a guess learns nothing)."""
        with self.iam.db.read() as tx:
            found = self.iam.authenticator.secret(tx, self.iam.cache.entries(tx),
                                                  access_key_id)
        if found is None or not hmac.compare_digest(found[0].encode(), secret.encode()):
            raise Unauthenticated("The access key ID or secret access key is not valid.")
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self.iam.db.write() as tx:
            rows.prune(tx, now)
            rows.add(tx, _hash(token), access_key_id, csrf, now, now + self.lifetime)
        return token, ConsoleSession(found[1], csrf, now + self.lifetime)

    def resume(self, token: str) -> ConsoleSession | None:
        """The session of a cookie's token, if it is still open and its key active."""
        with self.iam.db.read() as tx:
            row = rows.get(tx, _hash(token))
            if row is None or row.expires_at <= time.time():
                return None
            caller = self.iam.authenticator.holder(tx, self.iam.cache.entries(tx),
                                                   row.access_key_id)
        return None if caller is None else ConsoleSession(caller, row.csrf, row.expires_at)

    def sign_out(self, token: str) -> None:
        with self.iam.db.write() as tx:
            rows.remove(tx, _hash(token))
