"""The admin operations on sealed secrets (what pull-through cache rules name by
``credentialArn``), per account and region (Region defaults to the default region), authorized
as berth: actions on the account's root: PutSecret (create or replace: SecretString, a JSON
object -- sealed, never returned), ListSecrets and DeleteSecret. Each secret is shown as its
Name, ARN and times."""
from __future__ import annotations

from ...iam.service import Iam
from ...notifications.envelope import iso_time
from ...secrets import Secret
from .key_operations import served_region  # as keys: a served Region, else the default
from .operations import Params, account_root, operation

_SECRETS = {"AccountId": True, "Region": False}
_SECRET = {**_SECRETS, "Name": True}


def _where(iam: Iam, p: Params) -> tuple[str, str]:
    return p["AccountId"], served_region(iam.tenancy, p)


def _secret(found: Secret) -> dict:
    return {"Name": found.name, "ARN": found.arn, "CreatedAt": iso_time(found.created_at),
            "UpdatedAt": iso_time(found.updated_at)}


@operation("PutSecret", "berth:PutSecret", {**_SECRET, "SecretString": True}, account_root)
def put_secret(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])  # NoSuchEntity for an unknown account
    return {"Secret": _secret(iam.secrets.put(*_where(iam, p), p["Name"],
                                              p["SecretString"]))}


@operation("ListSecrets", "berth:ListSecrets", _SECRETS, account_root)
def list_secrets(iam: Iam, p: Params) -> dict:
    return {"Secrets": [_secret(s) for s in iam.secrets.list(*_where(iam, p))]}


@operation("DeleteSecret", "berth:DeleteSecret", _SECRET, account_root)
def delete_secret(iam: Iam, p: Params) -> dict:
    iam.secrets.delete(*_where(iam, p), p["Name"])
    return {}
