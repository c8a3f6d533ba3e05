"""Storage used per repository and per account (each stored object counted once)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..storage.metadata import usage as rows
from ..storage.metadata.database import Database


@dataclass
class Usage:
    objects: int = 0
    bytes: int = 0


@dataclass
class RegistryUsage:
    account_id: str
    region: str
    total: Usage = field(default_factory=Usage)
    repositories: dict[str, Usage] = field(default_factory=dict)


def storage_usage(db: Database, account_id: str | None = None) -> list[RegistryUsage]:
    """Per registry (account and region), its total and each repository's, optionally only
    one account's."""
    with db.read() as tx:
        per_repository, per_registry = rows.by_repository(tx), rows.by_registry(tx)
    found: dict[tuple[str, str], RegistryUsage] = {}

    def entry(row) -> RegistryUsage:
        key = (row.account_id, row.region)
        if key not in found:
            found[key] = RegistryUsage(*key)
        return found[key]

    for row in per_repository:
        if account_id in (None, row.account_id):
            entry(row).repositories[row.name] = Usage(int(row.objects), int(row.bytes))
    for row in per_registry:
        if account_id in (None, row.account_id):
            entry(row).total = Usage(int(row.objects), int(row.bytes))
    return list(found.values())
