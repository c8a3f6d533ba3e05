"""Rows of console sessions (berth/iam/console.py): a session is known by the SHA-256 of its
cookie's token (the token itself is never stored), the access key that signed in, its CSRF
token and its expiry. Declared here, on the shared metadata, beside their statements."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, String, Table, bindparam, delete, select

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

console_sessions = Table(
    "console_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("access_key_id", String(128), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)


@cache
def _insert(dialect: str):
    return insert(dialect, console_sessions, "token_sha256", "access_key_id", "csrf",
                  "created_at", "expires_at")


@cache
def _get():
    t = console_sessions
    return select(t.c.access_key_id, t.c.csrf, t.c.expires_at).where(
        t.c.token_sha256 == bindparam("token"))


@cache
def _delete():
    return delete(console_sessions).where(
        console_sessions.c.token_sha256 == bindparam("token"))


@cache
def _prune():
    return delete(console_sessions).where(console_sessions.c.expires_at < bindparam("before"))


def add(tx: "Tx", token_sha256: str, access_key_id: str, csrf: str, created_at: float,
        expires_at: float) -> None:
    tx.execute(_insert(tx.dialect_name), {
        "token_sha256": token_sha256, "access_key_id": access_key_id, "csrf": csrf,
        "created_at": created_at, "expires_at": expires_at})


def get(tx: "Tx", token_sha256: str):
    return tx.first(_get(), {"token": token_sha256})


def remove(tx: "Tx", token_sha256: str) -> None:
    tx.execute(_delete(), {"token": token_sha256})


def prune(tx: "Tx", before: float) -> int:
    return tx.execute(_prune(), {"before": before})
