"""Which registry an admin operation acts on: AccountId and Region name one (defaults: the
default registry's account and region)."""
from __future__ import annotations

from ...registry.registry import Registry
from ...storage.metadata import notifications as addresses
from ...storage.metadata import registries
from .errors import validation_error

WHERE = {"AccountId": False, "Region": False}


def registry_of(registry: Registry, p: dict) -> Registry:
    if "AccountId" not in p and "Region" not in p:
        return registry
    with registry.db.read() as tx:
        account, region = addresses.registry_address(tx, registry.registry_id)
        found = registries.registry_id(tx, p.get("AccountId", account), p.get("Region", region))
    if found is None:
        raise validation_error(f"no registry of account {p.get('AccountId', account)} in "
                               f"{p.get('Region', region)}")
    return registry.scoped(found)
