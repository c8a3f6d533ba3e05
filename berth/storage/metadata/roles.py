"""Rows of IAM roles (their trust and inline identity policies) and of the temporary
credentials STS issues (berth/iam/roles.py, berth/iam/sessions.py). Declared here, on the
shared metadata, beside the statements that use them."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    select,
    update,
)

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

roles = Table(
    "roles", metadata,
    Column("id", String(32), primary_key=True),  # AROA...
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("description", String(1000)),
    Column("max_session_seconds", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "name"),
)

role_policies = Table(
    "role_policies", metadata,
    Column("role_id", String(32), ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Temporary credentials: an AssumeRole session (role_id set) or a GetSessionToken session of
# a user (user_id) or of an account's root (neither).
sts_sessions = Table(
    "sts_sessions", metadata,
    Column("id", String(32), primary_key=True),  # the access key id: ASIA...
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("role_id", String(32), ForeignKey("roles.id", ondelete="CASCADE")),
    Column("user_id", String(32)),
    Column("session_name", String(64)),
    Column("secret", LargeBinary, nullable=False),  # sealed under the master key
    Column("token_sha256", String(64), nullable=False),
    Column("details", Text, nullable=False),  # JSON: session policy, source identity, tags
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

R, P, S = roles, role_policies, sts_sessions
_ROLE = (R.c.id, R.c.account_id, R.c.name, R.c.path, R.c.trust_policy, R.c.description,
         R.c.max_session_seconds, R.c.created_at)


# -- roles ---------------------------------------------------------------------------------
@cache
def _insert_role(dialect: str):
    return insert(dialect, R, "id", "account_id", "name", "path", "trust_policy",
                  "description", "max_session_seconds", "created_at")


@cache
def _roles(by: str):
    query = select(*_ROLE)
    if by == "id":
        return query.where(R.c.id == bindparam("id"))
    query = query.where(R.c.account_id == bindparam("account"))
    if by == "name":
        return query.where(R.c.name == bindparam("name"))
    return query.order_by(R.c.name)


@cache
def _set_role():
    return update(R).where(R.c.id == bindparam("id")).values(
        trust_policy=bindparam("trust"), description=bindparam("description"),
        max_session_seconds=bindparam("max_seconds"))


def insert_role(tx: "Tx", row: dict) -> None:
    tx.execute(_insert_role(tx.dialect_name), row)


def find_role(tx: "Tx", account_id: str, name: str):
    return tx.first(_roles("name"), {"account": account_id, "name": name})


def role_by_id(tx: "Tx", role_id: str):
    return tx.first(_roles("id"), {"id": role_id})


def list_roles(tx: "Tx", account_id: str) -> list:
    return tx.all(_roles("account"), {"account": account_id})


def set_role(tx: "Tx", role_id: str, trust: str, description: str | None,
             max_seconds: int) -> None:
    tx.execute(_set_role(), {"id": role_id, "trust": trust, "description": description,
                             "max_seconds": max_seconds})


@cache
def _deletes():
    # Cascades are not relied on (SQLite enforces them only with a pragma).
    return tuple(delete(table).where(column == bindparam("id"))
                 for table, column in ((S, S.c.role_id), (P, P.c.role_id), (R, R.c.id)))


def delete_role(tx: "Tx", role_id: str) -> None:
    for statement in _deletes():
        tx.execute(statement, {"id": role_id})


# -- role policies -------------------------------------------------------------------------
@cache
def _put_policy(dialect: str):
    stmt = insert(dialect, P, "role_id", "name", "document")
    return stmt.on_conflict_do_update(index_elements=["role_id", "name"],
                                      set_={"document": stmt.excluded.document})


def put_policy(tx: "Tx", role_id: str, name: str, document: str) -> None:
    tx.execute(_put_policy(tx.dialect_name), {"role_id": role_id, "name": name,
                                              "document": document})


@cache
def _policies():
    return select(P.c.name, P.c.document).where(P.c.role_id == bindparam("id")).order_by(
        P.c.name)


@cache
def _delete_policy():
    return delete(P).where(P.c.role_id == bindparam("id"), P.c.name == bindparam("name"))


def list_policies(tx: "Tx", role_id: str) -> list:
    return tx.all(_policies(), {"id": role_id})


def delete_policy(tx: "Tx", role_id: str, name: str) -> bool:
    return tx.execute(_delete_policy(), {"id": role_id, "name": name}) == 1


# -- sessions ------------------------------------------------------------------------------
@cache
def _insert_session(dialect: str):
    return insert(dialect, S, "id", "account_id", "role_id", "user_id", "session_name",
                  "secret", "token_sha256", "details", "issued_at", "expires_at")


def insert_session(tx: "Tx", row: dict) -> None:
    tx.execute(_insert_session(tx.dialect_name), row)


@cache
def _session():
    return select(S).where(S.c.id == bindparam("id"))


@cache
def _prune():
    return delete(S).where(S.c.expires_at < bindparam("before"))


def get_session(tx: "Tx", key_id: str):
    return tx.first(_session(), {"id": key_id})


def prune_sessions(tx: "Tx", expired_before: float) -> int:
    return tx.execute(_prune(), {"before": expired_before})
