"""ECR operations on the registry itself: DescribeRegistry, GetAccountSetting and
PutAccountSetting. Account settings are per registry (account and region), as in ECR, kept in
the registry's settings under ``accountSettings``."""
from __future__ import annotations

from ...registry.concurrency import blocking
from ...registry.registry_settings import get_settings, merge_settings, read_settings
from .access import admit
from .endpoint import ApiCall
from .errors import invalid_parameter

SETTINGS_KEY = "accountSettings"

# Names, allowed values and defaults as the ECR model documents them: basic scanning is
# AWS_NATIVE only (Clair is retired), the registry policy scope V2 (the default; AWS advises
# against V1, which Berth's policy engine does not implement), blob mounting off until enabled.
ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": (("AWS_NATIVE",), "AWS_NATIVE"),
    "REGISTRY_POLICY_SCOPE": (("V2",), "V2"),
    "BLOB_MOUNTING": (("ENABLED", "DISABLED"), "DISABLED"),
}


async def describe_registry(call: ApiCall) -> dict:
    target = await admit(call, "ecr:DescribeRegistry")
    # Replication is not implemented: no rules, as for a registry that never configured any.
    return {"registryId": target.registry_id_text, "replicationConfiguration": {"rules": []}}


async def get_account_setting(call: ApiCall) -> dict:
    name = _known_name(call.params["name"])
    target = await admit(call, "ecr:GetAccountSetting")
    settings = await blocking(get_settings, target.registry.db, target.registry_id)
    stored = settings.get(SETTINGS_KEY, {})
    return {"name": name, "value": stored.get(name, ACCOUNT_SETTINGS[name][1])}


async def put_account_setting(call: ApiCall) -> dict:
    name, value = _known_name(call.params["name"]), call.params["value"]
    allowed = ACCOUNT_SETTINGS[name][0]
    if value not in allowed:
        raise invalid_parameter(
            f"Invalid parameter at 'value' failed to satisfy constraint: 'Member must satisfy "
            f"enum value set: [{', '.join(allowed)}] for setting {name}'")
    target = await admit(call, "ecr:PutAccountSetting")

    def store() -> None:
        with target.registry.db.write() as tx:  # one transaction: concurrent puts both land
            current = read_settings(tx, target.registry_id, lock=True).get(SETTINGS_KEY, {})
            merge_settings(tx, target.registry_id, {SETTINGS_KEY: {**current, name: value}})

    await blocking(store)
    return {"name": name, "value": value}


def _known_name(name: str) -> str:
    if name not in ACCOUNT_SETTINGS:
        raise invalid_parameter(
            f"Invalid parameter at 'name' failed to satisfy constraint: 'Member must satisfy "
            f"enum value set: [{', '.join(ACCOUNT_SETTINGS)}]'")
    return name


OPERATIONS = {
    "DescribeRegistry": describe_registry,
    "GetAccountSetting": get_account_setting,
    "PutAccountSetting": put_account_setting,
}
