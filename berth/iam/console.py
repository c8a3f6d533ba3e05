"""Console sessions: signing in with an access key's id and secret, or as a user with the
console password an administrator gave it (IAM's login profile), opens a session known by a
random token (the browser's cookie; only its SHA-256 is stored), with a CSRF token of its own,
for SESSION_SECONDS at most. Each request resumes it as the key's holder or the user now, so a
key deactivated, a password removed or a user deleted ends its sessions at once; signing out
removes the row."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..concurrency import blocking
from ..storage.metadata import console as rows
from ..storage.metadata import identities as identity_rows
from .authentication import Caller, Unauthenticated, user_caller
from .identities import IdentityError
from .service import Iam

SESSION_SECONDS = 8 * 3600
PASSWORD_MIN, PASSWORD_MAX = 8, 128  # IAM's default password policy's bounds
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_REFUSED = "The sign-in details are not valid."  # one answer for every wrong guess


@dataclass(frozen=True)
class ConsoleSession:
    caller: Caller
    csrf: str
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(stored: str, password: str) -> bool:
    _, salt, digest = stored.split("$")
    given = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    return hmac.compare_digest(given, base64.b64decode(digest))


class ConsoleSessions:
    def __init__(self, iam: Iam, lifetime: int = SESSION_SECONDS):
        self.iam, self.lifetime = iam, lifetime

    # -- for coroutines (the console's pages): the thread is chosen here ------------------
    async def sign_in_async(self, access_key_id: str, secret: str):
        return await blocking(self.sign_in, access_key_id, secret)

    async def sign_in_user_async(self, account_id: str, user_name: str, password: str):
        return await blocking(self.sign_in_user, account_id, user_name, password)

    async def resume_async(self, token: str) -> ConsoleSession | None:
        return await blocking(self.resume, token)

    async def sign_out_async(self, token: str) -> None:
        await blocking(self.sign_out, token)

    def sign_in(self, access_key_id: str, secret: str) -> tuple[str, ConsoleSession]:
        """A new session's token (Unauthenticated: no such active key, or not its secret)."""
        with self.iam.db.read() as tx:
            found = self.iam.authenticator.secret(tx, self.iam.cache.entries(tx),
                                                  access_key_id)
        if found is None or not hmac.compare_digest(found[0].encode(), secret.encode()):
            raise Unauthenticated(_REFUSED)
        return self._open(found[1], access_key_id, None)

    def sign_in_user(self, account_id: str, user_name: str, password: str
                     ) -> tuple[str, ConsoleSession]:
        """As a user, with its console password (Unauthenticated otherwise)."""
        with self.iam.db.read() as tx:
            user = identity_rows.find_user(tx, account_id, user_name)
            stored = None if user is None else rows.profile(tx, user.id)
            caller = None if stored is None else user_caller(tx, user.id)
        if stored is None or caller is None or not password_matches(stored, password):
            raise Unauthenticated(_REFUSED)
        return self._open(caller, None, user.id)

    def _open(self, caller: Caller, key_id: str | None, user_id: str | None
              ) -> tuple[str, ConsoleSession]:
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self.iam.db.write() as tx:
            rows.prune(tx, now)
            rows.add(tx, _hash(token), key_id, user_id, csrf, now, now + self.lifetime)
        return token, ConsoleSession(caller, csrf, now + self.lifetime)

    def resume(self, token: str) -> ConsoleSession | None:
        """The session of a cookie's token, if it is still open and its key or user's
        password still there."""
        with self.iam.db.read() as tx:
            row = rows.get(tx, _hash(token))
            if row is None or row.expires_at <= time.time():
                return None
            if row.user_id is not None:
                caller = (user_caller(tx, row.user_id)
                          if rows.profile(tx, row.user_id) is not None else None)
            else:
                caller = self.iam.authenticator.holder(tx, self.iam.cache.entries(tx),
                                                       row.access_key_id)
        return None if caller is None else ConsoleSession(caller, row.csrf, row.expires_at)

    def sign_out(self, token: str) -> None:
        with self.iam.db.write() as tx:
            rows.remove(tx, _hash(token))


class LoginProfiles:
    """Users' console passwords (IAM's CreateLoginProfile and DeleteLoginProfile)."""

    def __init__(self, iam: Iam):
        self.db = iam.db

    def set(self, account_id: str, user_name: str, password: str, new: bool) -> None:
        """Give the user a console password (``new``: it must have none yet, as IAM's
        CreateLoginProfile; else it must have one, as UpdateLoginProfile)."""
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise IdentityError("PasswordPolicyViolation", f"The password must be "
                                f"{PASSWORD_MIN} to {PASSWORD_MAX} characters long.")
        hashed = password_hash(password)
        with self.db.write() as tx:
            user_id = self._user(tx, account_id, user_name)
            has = rows.profile(tx, user_id) is not None
            if new and has:
                raise IdentityError("EntityAlreadyExists", f"user {user_name!r} already has "
                                                           "a console password")
            if not new and not has:
                raise IdentityError("NoSuchEntity", f"user {user_name!r} has no console "
                                                    "password")
            rows.put_profile(tx, user_id, hashed, time.time())

    def delete(self, account_id: str, user_name: str) -> None:
        with self.db.write() as tx:
            if not rows.delete_profile(tx, self._user(tx, account_id, user_name)):
                raise IdentityError("NoSuchEntity", f"user {user_name!r} has no console "
                                                    "password")

    @staticmethod
    def _user(tx, account_id: str, user_name: str) -> str:
        user = identity_rows.find_user(tx, account_id, user_name)
        if user is None:
            raise IdentityError("NoSuchEntity", f"no user {user_name!r} in account "
                                                f"{account_id}")
        return user.id
