"""Rows of the console (berth/iam/console.py): sessions, each known by the SHA-256 of its
cookie's token (the token itself is never stored), with the access key or the user (by its
console password) that signed in, its CSRF token and its expiry; and users' console passwords
(IAM's login profiles), as scrypt hashes. Declared here, on the shared metadata."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
)

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

console_sessions = Table(
    "console_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("access_key_id", String(128)),  # signed in with a key ...
    Column("user_id", String(32)),          # ... or as a user, with its console password
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)


login_profiles = Table(
    "login_profiles", metadata,
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"),
           primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)


@cache
def _insert(dialect: str):
    return insert(dialect, console_sessions, "token_sha256", "access_key_id", "user_id",
                  "csrf", "created_at", "expires_at")


@cache
def _get():
    t = console_sessions
    return select(t.c.access_key_id, t.c.user_id, t.c.csrf, t.c.expires_at).where(
        t.c.token_sha256 == bindparam("token"))


@cache
def _delete():
    return delete(console_sessions).where(
        console_sessions.c.token_sha256 == bindparam("token"))


@cache
def _prune():
    return delete(console_sessions).where(console_sessions.c.expires_at < bindparam("before"))


def add(tx: "Tx", token_sha256: str, access_key_id: str | None, user_id: str | None,
        csrf: str, created_at: float, expires_at: float) -> None:
    tx.execute(_insert(tx.dialect_name), {
        "token_sha256": token_sha256, "access_key_id": access_key_id, "user_id": user_id,
        "csrf": csrf, "created_at": created_at, "expires_at": expires_at})


def get(tx: "Tx", token_sha256: str):
    return tx.first(_get(), {"token": token_sha256})


def remove(tx: "Tx", token_sha256: str) -> None:
    tx.execute(_delete(), {"token": token_sha256})


def prune(tx: "Tx", before: float) -> int:
    return tx.execute(_prune(), {"before": before})


@cache
def _put_profile(dialect: str):
    statement = insert(dialect, login_profiles, "user_id", "password_hash", "created_at")
    return statement.on_conflict_do_update(
        index_elements=["user_id"], set_={"password_hash": statement.excluded.password_hash,
                                          "created_at": statement.excluded.created_at})


@cache
def _profile():
    return select(login_profiles.c.password_hash).where(
        login_profiles.c.user_id == bindparam("user"))


@cache
def _delete_profile():
    return delete(login_profiles).where(login_profiles.c.user_id == bindparam("user"))


def put_profile(tx: "Tx", user_id: str, password_hash: str, created_at: float) -> None:
    tx.execute(_put_profile(tx.dialect_name), {"user_id": user_id,
                                               "password_hash": password_hash,
                                               "created_at": created_at})


def profile(tx: "Tx", user_id: str) -> str | None:
    """The user's password hash, or None when it has no console password."""
    return tx.scalar(_profile(), {"user": user_id})


def delete_profile(tx: "Tx", user_id: str) -> bool:
    return tx.execute(_delete_profile(), {"user": user_id}) == 1
