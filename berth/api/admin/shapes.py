"""How identities look in admin API results: IAM's member names, times as ISO 8601 UTC, and
the same keys every time (absent values are null) so scripts can rely on them."""
from __future__ import annotations

from datetime import datetime, timezone

from ...iam.identities import AccessKey, Account, User
from ...keys import Key


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def account(found: Account) -> dict:
    return {"AccountId": found.id, "AccountName": found.name, "Arn": root_arn(found.id),
            "IsAdmin": bool(found.is_admin), "CreateDate": timestamp(found.created_at)}


def user(found: User) -> dict:
    return {"UserName": found.name, "UserId": found.id, "Arn": found.arn, "Path": found.path,
            "AccountId": found.account_id, "CreateDate": timestamp(found.created_at)}


def access_key(found: AccessKey) -> dict:
    shown = {"AccessKeyId": found.id}
    if found.secret is not None:  # only in CreateAccessKey's answer
        shown["SecretAccessKey"] = found.secret
    shown.update({"Status": "Active" if found.active else "Inactive",
                  "UserName": found.user_name, "AccountId": found.account_id,
                  "CreateDate": timestamp(found.created_at)})
    return shown


def kms_key(found: Key) -> dict:
    """KMS's KeyMetadata members, with the key's current version (rotation adds one)."""
    return {"KeyId": found.id, "Arn": found.arn, "AWSAccountId": found.account_id,
            "Region": found.region, "Description": found.description,
            "Enabled": found.enabled, "KeyState": "Enabled" if found.enabled else "Disabled",
            "KeyManager": "AWS" if found.managed else "CUSTOMER",
            "AliasName": f"alias/{found.alias}" if found.alias else None,
            "CreationDate": timestamp(found.created_at), "KeyVersion": found.version,
            "LastRotationDate": timestamp(found.version_created_at) if found.version > 1
            else None}
