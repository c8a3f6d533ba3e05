"""Rows of accounts, users, their access keys and identity policies."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, select, update

from .database import Tx
from .schema import access_keys, accounts, user_policies, users
from .statements import insert

_ACCOUNT_COLUMNS = (accounts.c.id, accounts.c.name, accounts.c.is_admin, accounts.c.created_at)
_USER_COLUMNS = (users.c.id, users.c.account_id, users.c.name, users.c.path, users.c.created_at)
_KEY_COLUMNS = (access_keys.c.id, access_keys.c.account_id, access_keys.c.user_id,
                access_keys.c.active, access_keys.c.tokens_valid_after,
                access_keys.c.created_at, access_keys.c.last_used_at)


# -- accounts ------------------------------------------------------------------------------
@cache
def _insert_account(dialect: str):
    return insert(dialect, accounts, "id", "name", "is_admin", "created_at")


@cache
def _accounts(by: str | None):
    query = select(*_ACCOUNT_COLUMNS).order_by(accounts.c.created_at, accounts.c.id)
    if by == "id":
        query = query.where(accounts.c.id == bindparam("value"))
    elif by == "name":
        query = query.where(accounts.c.name == bindparam("value"))
    elif by == "admin":
        query = query.where(accounts.c.is_admin == bindparam("value"))
    return query


def insert_account(tx: Tx, row: dict) -> None:
    tx.execute(_insert_account(tx.dialect_name), row)


def list_accounts(tx: Tx) -> list:
    return tx.all(_accounts(None))


def find_account(tx: Tx, by: str, value):
    """The account whose ``by`` ("id", "name" or "admin") equals ``value``, or None."""
    return tx.first(_accounts(by), {"value": value})


# -- users ---------------------------------------------------------------------------------
@cache
def _insert_user(dialect: str):
    return insert(dialect, users, "id", "account_id", "name", "path", "created_at")


@cache
def _users(one: bool):
    query = select(*_USER_COLUMNS).where(users.c.account_id == bindparam("account"))
    if one:
        return query.where(users.c.name == bindparam("name"))
    return query.order_by(users.c.name)


@cache
def _user_by_id():
    return select(*_USER_COLUMNS).where(users.c.id == bindparam("id"))


@cache
def _delete_user():
    return delete(users).where(users.c.id == bindparam("id"))


def insert_user(tx: Tx, row: dict) -> None:
    tx.execute(_insert_user(tx.dialect_name), row)


def list_users(tx: Tx, account_id: str) -> list:
    return tx.all(_users(False), {"account": account_id})


def find_user(tx: Tx, account_id: str, name: str):
    return tx.first(_users(True), {"account": account_id, "name": name})


def user_by_id(tx: Tx, user_id: str):
    return tx.first(_user_by_id(), {"id": user_id})


def delete_user(tx: Tx, user_id: str) -> None:
    tx.execute(_delete_user(), {"id": user_id})


# -- access keys ---------------------------------------------------------------------------
@cache
def _insert_key(dialect: str):
    return insert(dialect, access_keys, "id", "account_id", "user_id", "secret", "active",
                  "tokens_valid_after", "created_at")


@cache
def _key(with_secret: bool):
    columns = (*_KEY_COLUMNS, access_keys.c.secret) if with_secret else _KEY_COLUMNS
    return select(*columns).where(access_keys.c.id == bindparam("id"))


@cache
def _keys(of_user: bool):
    query = select(*_KEY_COLUMNS).where(access_keys.c.account_id == bindparam("account"))
    if of_user:
        query = query.where(access_keys.c.user_id == bindparam("user"))
    else:
        query = query.where(access_keys.c.user_id.is_(None))
    return query.order_by(access_keys.c.created_at, access_keys.c.id)


@cache
def _set_key_state():
    return update(access_keys).where(access_keys.c.id == bindparam("id")).values(
        active=bindparam("active"), tokens_valid_after=bindparam("valid_after"))


@cache
def _delete_key():
    return delete(access_keys).where(access_keys.c.id == bindparam("id"))


@cache
def _delete_keys_of_user():
    return delete(access_keys).where(access_keys.c.user_id == bindparam("user"))


def insert_key(tx: Tx, row: dict) -> None:
    tx.execute(_insert_key(tx.dialect_name), row)


def get_key(tx: Tx, key_id: str, with_secret: bool = False):
    return tx.first(_key(with_secret), {"id": key_id})


def list_keys(tx: Tx, account_id: str, user_id: str | None) -> list:
    """The keys of a user, or of the account's root when ``user_id`` is None."""
    return tx.all(_keys(user_id is not None), {"account": account_id, "user": user_id})


def set_key_state(tx: Tx, key_id: str, active: bool, tokens_valid_after: float) -> bool:
    return tx.execute(_set_key_state(), {"id": key_id, "active": active,
                                         "valid_after": tokens_valid_after}) == 1


def delete_key(tx: Tx, key_id: str) -> bool:
    return tx.execute(_delete_key(), {"id": key_id}) == 1


def delete_keys_of_user(tx: Tx, user_id: str) -> None:
    tx.execute(_delete_keys_of_user(), {"user": user_id})


# -- identity policies (inline, on users) -------------------------------------------------
@cache
def _put_policy(dialect: str):
    return insert(dialect, user_policies, "user_id", "name", "document").on_conflict_do_update(
        index_elements=["user_id", "name"], set_={"document": bindparam("document")})


@cache
def _policies(one: bool):
    query = select(user_policies.c.name, user_policies.c.document).where(
        user_policies.c.user_id == bindparam("user"))
    if one:
        return query.where(user_policies.c.name == bindparam("name"))
    return query.order_by(user_policies.c.name)


@cache
def _delete_policy():
    return delete(user_policies).where(user_policies.c.user_id == bindparam("user"),
                                       user_policies.c.name == bindparam("name"))


def put_policy(tx: Tx, user_id: str, name: str, document: str) -> None:
    tx.execute(_put_policy(tx.dialect_name), {"user_id": user_id, "name": name,
                                              "document": document})


def list_policies(tx: Tx, user_id: str) -> list:
    return tx.all(_policies(False), {"user": user_id})


def get_policy(tx: Tx, user_id: str, name: str):
    return tx.first(_policies(True), {"user": user_id, "name": name})


def delete_policy(tx: Tx, user_id: str, name: str) -> bool:
    return tx.execute(_delete_policy(), {"user": user_id, "name": name}) == 1
