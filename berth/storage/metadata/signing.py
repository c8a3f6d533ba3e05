"""Rows of image signing (berth/signing): each account's signing CA, its signing profiles
(a sealed private key with its certificate chain), and each image's signing status per
profile. Declared here, on the shared metadata, beside the statements that use them."""
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

signing_cas = Table(
    "signing_cas", metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("certificate", Text, nullable=False),   # PEM, self-signed
    Column("private_key", LargeBinary, nullable=False),  # sealed under the master key
    Column("created_at", Float, nullable=False),
)

signing_profiles = Table(
    "signing_profiles", metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("chain", Text, nullable=False),           # PEM, the leaf first
    Column("private_key", LargeBinary, nullable=False),  # sealed under the master key
    Column("imported", Integer, nullable=False),     # 1: an organisation's own CA issued it
    Column("status", String(16), nullable=False),    # Active | Revoked
    Column("validity_seconds", Integer, nullable=False),  # of each signature
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    UniqueConstraint("account_id", "region", "name"),
)

# An image's status per signing profile (ECR's DescribeImageSigningStatus).
image_signing = Table(
    "image_signing", metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("digest", String(100), primary_key=True),
    Column("profile_arn", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("failure_code", String(64)),
    Column("failure_reason", String(1000)),
    Column("signature_digest", String(100)),
    Column("updated_at", Float, nullable=False),
)

CA, PR, IS = signing_cas, signing_profiles, image_signing


# -- the account's CA ----------------------------------------------------------------------
@cache
def _insert_ca(dialect: str):
    return insert(dialect, CA, "account_id", "certificate", "private_key",
                  "created_at").on_conflict_do_nothing(index_elements=["account_id"])


@cache
def _ca():
    return select(CA.c.certificate, CA.c.private_key).where(
        CA.c.account_id == bindparam("account"))


def insert_ca(tx: "Tx", account_id: str, certificate: str, private_key: bytes,
              now: float) -> bool:
    """False if the account has one already (a concurrent first use made it)."""
    return tx.execute(_insert_ca(tx.dialect_name), {
        "account_id": account_id, "certificate": certificate, "private_key": private_key,
        "created_at": now}) == 1


def ca(tx: "Tx", account_id: str):
    return tx.first(_ca(), {"account": account_id})


# -- profiles ------------------------------------------------------------------------------
_PROFILE = tuple(c for c in PR.c if c.name != "private_key")


@cache
def _insert_profile(dialect: str):
    return insert(dialect, PR, *(c.name for c in PR.c if c.name != "revoked_at"))


@cache
def _profiles(by: str):
    query = select(*_PROFILE)
    if by == "id":
        return query.where(PR.c.id == bindparam("id"))
    query = query.where(PR.c.account_id == bindparam("account"))
    if by == "name":
        return query.where(PR.c.region == bindparam("region"), PR.c.name == bindparam("name"))
    return query.order_by(PR.c.region, PR.c.name)


@cache
def _revoke():
    return update(PR).where(PR.c.id == bindparam("id"), PR.c.status != "Revoked").values(
        status="Revoked", revoked_at=bindparam("now"))


def insert_profile(tx: "Tx", row: dict) -> None:
    tx.execute(_insert_profile(tx.dialect_name), row)


def profile(tx: "Tx", account_id: str, region: str, name: str):
    return tx.first(_profiles("name"), {"account": account_id, "region": region, "name": name})


def profiles_of(tx: "Tx", account_id: str) -> list:
    return tx.all(_profiles("account"), {"account": account_id})


@cache
def _profile_key():
    return select(PR.c.private_key).where(PR.c.id == bindparam("id"))


def profile_key(tx: "Tx", profile_id: str) -> bytes:
    return tx.scalar(_profile_key(), {"id": profile_id})


@cache
def _rekey():
    return update(PR).where(PR.c.id == bindparam("id"), PR.c.status != "Revoked").values(
        chain=bindparam("chain"), private_key=bindparam("key"))


@cache
def _set_status():
    return update(PR).where(PR.c.id == bindparam("id"), PR.c.status == bindparam("was")).values(
        status=bindparam("status"))


def rekey(tx: "Tx", profile_id: str, chain: str, sealed_key: bytes) -> bool:
    """False if the profile was revoked meanwhile (a revoked profile keeps its last key)."""
    return tx.execute(_rekey(), {"id": profile_id, "chain": chain, "key": sealed_key}) == 1


def set_status(tx: "Tx", profile_id: str, was: str, status: str) -> bool:
    return tx.execute(_set_status(), {"id": profile_id, "was": was, "status": status}) == 1


def revoke(tx: "Tx", profile_id: str, now: float) -> bool:
    return tx.execute(_revoke(), {"id": profile_id, "now": now}) == 1


# -- image statuses ------------------------------------------------------------------------
@cache
def _put_status(dialect: str):
    stmt = insert(dialect, IS, *(c.name for c in IS.c))
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "digest", "profile_arn"],
        set_={c: getattr(stmt.excluded, c) for c in
              ("status", "failure_code", "failure_reason", "signature_digest", "updated_at")})


@cache
def _statuses():
    return select(IS.c.profile_arn, IS.c.status, IS.c.failure_code, IS.c.failure_reason,
                  IS.c.signature_digest, IS.c.updated_at).where(
        IS.c.repository_id == bindparam("repo"), IS.c.digest == bindparam("digest")
    ).order_by(IS.c.profile_arn)


@cache
def _forget(by: str):
    where = IS.c.repository_id == bindparam("repo")
    if by == "image":
        where = where & (IS.c.digest == bindparam("digest"))
    return delete(IS).where(where)


def put_status(tx: "Tx", repo_id: int, digest: str, profile_arn: str, status: str,
               now: float, failure: tuple[str, str] | None = None,
               signature: str | None = None) -> None:
    code, reason = failure or (None, None)
    tx.execute(_put_status(tx.dialect_name), {
        "repository_id": repo_id, "digest": digest, "profile_arn": profile_arn,
        "status": status, "failure_code": code, "failure_reason": reason,
        "signature_digest": signature, "updated_at": now})


def statuses(tx: "Tx", repo_id: int, digest: str) -> list:
    return tx.all(_statuses(), {"repo": repo_id, "digest": digest})


def forget_image(tx: "Tx", repo_id: int, digest: str) -> None:
    tx.execute(_forget("image"), {"repo": repo_id, "digest": digest})


def forget_repository(tx: "Tx", repo_id: int) -> None:
    tx.execute(_forget("repository"), {"repo": repo_id})
