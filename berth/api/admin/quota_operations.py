"""The admin operations on service quotas (berth/quotas): PutServiceQuota and
DeleteServiceQuota set or drop an override, for one account (AccountId) or the whole
deployment (no AccountId) -- the administrator's account only, as raising a quota is the
operator's call; ListServiceQuotas shows an account's values and where each comes from
(account, deployment or ECR's default), to the account itself."""
from __future__ import annotations

from ...iam.service import Iam
from ...quotas.services import DEPLOYMENT
from .errors import validation_error
from .operations import Params, account_root, operation


def _scope(iam: Iam, p: Params) -> str:
    if p.get("AccountId") is None:
        return DEPLOYMENT
    iam.identities.account(p["AccountId"])  # NoSuchEntity for an unknown account
    return p["AccountId"]


@operation("PutServiceQuota", "berth:PutServiceQuota",
           {"AccountId": False, "QuotaName": True, "Value": True}, None)
def put_service_quota(iam: Iam, p: Params) -> dict:
    try:
        value = int(p["Value"])
    except ValueError:
        raise validation_error("Value must be a whole number") from None
    iam.quotas.put(_scope(iam, p), p["QuotaName"], value)
    return {}


@operation("DeleteServiceQuota", "berth:DeleteServiceQuota",
           {"AccountId": False, "QuotaName": True}, None)
def delete_service_quota(iam: Iam, p: Params) -> dict:
    iam.quotas.delete(_scope(iam, p), p["QuotaName"])
    return {}


@operation("ListServiceQuotas", "berth:ListServiceQuotas", {"AccountId": True}, account_root)
def list_service_quotas(iam: Iam, p: Params) -> dict:
    iam.identities.account(p["AccountId"])
    return {"Quotas": iam.quotas.effective(p["AccountId"])}
