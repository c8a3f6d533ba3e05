"""The admin operations on KMS-style encryption keys (per account and region): CreateKey,
ListKeys, DescribeKey, DisableKey, EnableKey and RotateKey, authorized as the KMS actions of
the same names (RotateKey as kms:RotateKeyOnDemand) on the key's ARN (an alias's ARN until
its key is looked up). Keys are named by id, ARN or alias (alias/aws/ecr: the account's
managed key); Region defaults to the default region. Disabling a key makes its
repositories' blobs unreadable until it is enabled."""
from __future__ import annotations

import contextlib

from ...iam.service import Iam
from ...iam.tenancy import Tenancy
from ...keys import KeyNotFound, KeySpec, parse_key_spec
from . import shapes
from .errors import validation_error
from .operations import Params, account_root, operation

_KEYS = {"AccountId": True, "Region": False}
_KEY = {**_KEYS, "KeyId": True}


def _region(iam: Iam, p: Params) -> str:
    return served_region(iam.tenancy, p)


def served_region(tenancy: Tenancy, p: Params) -> str:
    region = p.get("Region") or tenancy.default_region
    if region not in tenancy.regions:
        raise validation_error(f"Region {region!r} is not served here")
    return region


def _spec(tenancy: Tenancy, p: Params) -> KeySpec:
    spec = parse_key_spec(p["KeyId"], p["AccountId"], served_region(tenancy, p))
    if spec.account_id != p["AccountId"]:
        raise validation_error(f"KeyId {p['KeyId']!r} is not a key of account "
                               f"{p['AccountId']}")
    return spec


def key_arn(tenancy: Tenancy, p: Params) -> str:
    """The ARN ``KeyId`` names: a key's, or an alias's."""
    return _spec(tenancy, p).arn


def aliased_key(iam: Iam, p: Params) -> str | None:
    """The ARN of the key an alias names, if it exists."""
    spec = _spec(iam.tenancy, p)
    if spec.alias is None:
        return None
    with contextlib.suppress(KeyNotFound):
        return iam.keys.describe(spec.account_id, spec.region, p["KeyId"]).arn
    return None


def _one(iam: Iam, p: Params, found) -> dict:
    return {"KeyMetadata": shapes.kms_key(found)}


@operation("CreateKey", "kms:CreateKey", {**_KEYS, "Description": False}, account_root)
def create_key(iam: Iam, p: Params) -> dict:
    return _one(iam, p, iam.keys.create(p["AccountId"], _region(iam, p),
                                        p.get("Description", "")))


@operation("ListKeys", "kms:ListKeys", _KEYS, account_root)
def list_keys(iam: Iam, p: Params) -> dict:
    region = _region(iam, p) if "Region" in p else None  # all regions unless one is named
    return {"Keys": [shapes.kms_key(k) for k in iam.keys.list(p["AccountId"], region)]}


@operation("DescribeKey", "kms:DescribeKey", _KEY, key_arn, stored=aliased_key)
def describe_key(iam: Iam, p: Params) -> dict:
    return _one(iam, p, iam.keys.describe(p["AccountId"], _region(iam, p), p["KeyId"]))


@operation("DisableKey", "kms:DisableKey", _KEY, key_arn, stored=aliased_key)
def disable_key(iam: Iam, p: Params) -> dict:
    return _one(iam, p, iam.keys.set_enabled(p["AccountId"], _region(iam, p), p["KeyId"],
                                             False))


@operation("EnableKey", "kms:EnableKey", _KEY, key_arn, stored=aliased_key)
def enable_key(iam: Iam, p: Params) -> dict:
    return _one(iam, p, iam.keys.set_enabled(p["AccountId"], _region(iam, p), p["KeyId"],
                                             True))


@operation("RotateKey", "kms:RotateKeyOnDemand", _KEY, key_arn, stored=aliased_key)
def rotate_key(iam: Iam, p: Params) -> dict:
    return _one(iam, p, iam.keys.rotate(p["AccountId"], _region(iam, p), p["KeyId"]))
