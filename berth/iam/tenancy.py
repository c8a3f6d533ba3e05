"""Accounts x regions: which private registry a request addresses, and the names (ARNs,
host names, repository URIs) things have in it."""
from __future__ import annotations

import re
from dataclasses import dataclass

ACCOUNT_ID = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
# The region of an account's public registry (ECR Public's, which no region holds: its ARNs
# name none). Never a region name, so it cannot collide with a configured region.
PUBLIC = "public"
PUBLIC_SERVICE_REGION = "us-east-1"  # where ECR Public's API is signed for


@dataclass(frozen=True)
class RegistryAddress:
    account_id: str
    region: str

    @property
    def is_public(self) -> bool:
        return self.region == PUBLIC

    @property
    def service(self) -> str:
        """The IAM service prefix of its actions and ARNs."""
        return "ecr-public" if self.is_public else "ecr"

    def action(self, action: str) -> str:
        """``action`` (``ecr:Name``) as this registry's service names it."""
        return f"{self.service}:{action.partition(':')[2]}"

    def repository_arn(self, name: str) -> str:
        if self.is_public:
            return f"arn:aws:ecr-public::{self.account_id}:repository/{name}"
        return f"arn:aws:ecr:{self.region}:{self.account_id}:repository/{name}"

    def host(self, domain: str) -> str:
        if self.is_public:
            return public_host(domain)
        return f"{self.account_id}.dkr.ecr.{self.region}.{domain}"


def public_host(domain: str) -> str:
    """Where public repositories are pulled from: ``public.<domain>/<alias>/<name>``."""
    return f"public.{domain}"


@dataclass(frozen=True)
class Tenancy:
    """The configured regions and domain. A registry host name addresses the registry it
    names; a plain host (an IP address, ``localhost``, any other name) the caller's own."""
    domain: str
    regions: tuple[str, ...]
    default_region: str
    default_account: str

    def __post_init__(self) -> None:
        for region in self.regions:
            if not REGION.fullmatch(region):
                raise ValueError(f"{region!r} is not a region name such as us-east-1")
        if self.default_region not in self.regions:
            raise ValueError(f"the default region {self.default_region!r} is not among the "
                             f"configured regions {', '.join(self.regions)}")

    @property
    def default(self) -> RegistryAddress:
        """The default account's registry (the administrator's unless configured otherwise)
        in the default region: where data from before tenancy lives."""
        return RegistryAddress(self.default_account, self.default_region)

    def serves(self, address: RegistryAddress) -> bool:
        return address.region in self.regions or address.is_public

    def public(self, account_id: str) -> RegistryAddress:
        return RegistryAddress(account_id, PUBLIC)

    def is_public_host(self, host_header: str | None) -> bool:
        host = _strip_port(host_header or "").lower().removesuffix(".")
        return host == public_host(self.domain).lower()

    def own_registry(self, account_id: str, region: str | None) -> RegistryAddress:
        """What a plain host addresses for a caller of ``account_id`` whose credentials were
        made for ``region`` (None: a token older than regions in tokens, the default)."""
        return RegistryAddress(account_id, region or self.default_region)

    def address_of(self, host_header: str | None) -> RegistryAddress | None:
        """The registry a Host header names: ``<account>.dkr.ecr.<region>.<domain>[:port]``,
        its region served or not (``serves`` tells); None for a plain host."""
        host = _strip_port(host_header or "").lower().removesuffix(".")
        suffix = "." + self.domain.lower()
        if not host.endswith(suffix):
            return None
        parts = host[:-len(suffix)].split(".")
        if len(parts) != 4 or parts[1:3] != ["dkr", "ecr"] or not ACCOUNT_ID.fullmatch(parts[0]):
            return None
        return RegistryAddress(parts[0], parts[3])


def _strip_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
