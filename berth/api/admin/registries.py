"""Which registry an admin operation acts on: AccountId and Region name one (defaults: the
default registry's account and region)."""
from __future__ import annotations

from ...registry.registry import Registry, RegistryNotFound
from .errors import validation_error

WHERE = {"AccountId": False, "Region": False}


def registry_of(registry: Registry, p: dict, make: bool = False) -> Registry:
    """``make``: a registry the account has not used yet is made (as its first ECR call
    would make it)."""
    try:
        return registry.addressed(p.get("AccountId"), p.get("Region"), make)
    except RegistryNotFound as exc:
        raise validation_error(f"no registry of account {exc.account_id} in "
                               f"{exc.region}") from None
