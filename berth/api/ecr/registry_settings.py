"""ECR operations on the registry's account settings: GetAccountSetting and PutAccountSetting
(DescribeRegistry, which shows the replication rules, is replication.py's). Account settings
are per registry (account and region), as in ECR, kept in the registry's settings
(``registry.registry_settings``)."""
from __future__ import annotations

from ...registry.settings import AccountSettingInvalid, check_account_setting
from .access import admit
from .endpoint import ApiCall
from .errors import invalid_parameter


def get_account_setting(call: ApiCall) -> dict:
    name = call.params["name"]
    _check(name)
    target = admit(call, "ecr:GetAccountSetting")
    value = target.registry.account_settings.get(name)
    return {"name": name, "value": value}


def put_account_setting(call: ApiCall) -> dict:
    name, value = call.params["name"], call.params["value"]
    _check(name, value)  # before authorization, as ECR validates first
    target = admit(call, "ecr:PutAccountSetting")
    target.registry.account_settings.put(name, value)
    return {"name": name, "value": value}


def _check(name: str, value: str | None = None) -> None:
    try:
        check_account_setting(name, value)
    except AccountSettingInvalid as exc:
        suffix = f" for setting {exc.setting}" if exc.setting else ""
        raise invalid_parameter(
            f"Invalid parameter at '{exc.field}' failed to satisfy constraint: 'Member must "
            f"satisfy enum value set: [{', '.join(exc.allowed)}]{suffix}'") from None


OPERATIONS = {
    "GetAccountSetting": get_account_setting,
    "PutAccountSetting": put_account_setting,
}
