"""Which registry an admin operation acts on: AccountId and Region name one (defaults: the
default registry's account and region)."""
from __future__ import annotations

import re

from ...registry.registry import Registry
from ...storage.metadata import identities as identity_rows
from ...storage.metadata import notifications as addresses
from ...storage.metadata import registries
from .errors import validation_error

WHERE = {"AccountId": False, "Region": False}
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")


def registry_of(registry: Registry, p: dict, make: bool = False) -> Registry:
    """``make``: a registry the account has not used yet is made (as its first ECR call
    would make it)."""
    if "AccountId" not in p and "Region" not in p:
        return registry
    with registry.db.read() as tx:
        account, region = addresses.registry_address(tx, registry.registry_id)
        wanted = (p.get("AccountId", account), p.get("Region", region))
        found = registries.registry_id(tx, *wanted)
    if found is None and make and _REGION.fullmatch(wanted[1]):
        with registry.db.write() as tx:
            if identity_rows.find_account(tx, "id", wanted[0]) is not None:
                found = registries.ensure_registry(tx, *wanted)
    if found is None:
        raise validation_error(f"no registry of account {p.get('AccountId', account)} in "
                               f"{p.get('Region', region)}")
    return registry.scoped(found)
