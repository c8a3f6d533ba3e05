"""A registry's replication configuration, as PutReplicationConfiguration sets it and
DescribeRegistry shows it: rules of destinations ``(region, registryId)`` and repository
filters (PREFIX_MATCH), with ECR's limits. Kept in the registry's settings, each destination
with the time it was first configured: only what is pushed after that is replicated to it."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from ..quotas import services as quotas
from ..registry.errors import RegistryError
from ..registry.settings import merge_settings, read_settings
from ..storage.metadata import replication as task_rows
from ..storage.metadata.database import Database
from .sites import sites_of

SETTINGS_KEY = "replication"
MAX_RULES = 25          # the model's
RULES_QUOTA = "ReplicationRules"  # a quota may lower it
MAX_DESTINATIONS = 25   # unique destinations across all rules (ECR's quota)
MAX_FILTERS = 100       # per rule (ECR's quota)
PREFIX_MATCH = "PREFIX_MATCH"
_FILTER = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*")


class ReplicationConfigurationInvalid(RegistryError):
    """A replication configuration the registry refuses."""


@dataclass(frozen=True)
class Destination:
    region: str
    registry_id: str  # the destination's account


@dataclass(frozen=True)
class Rule:
    destinations: tuple[Destination, ...]
    prefixes: tuple[str, ...] = ()  # none: every repository
    delete_replication: bool | None = None  # as given (None: not said, and off)

    def covers(self, repository: str) -> bool:
        return not self.prefixes or any(repository.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class Configuration:
    rules: tuple[Rule, ...] = ()
    since: dict[Destination, float] = field(default_factory=dict, compare=False)

    def destinations_for(self, repository: str, at: float,
                         deletes: bool = False) -> list[Destination]:
        """Where an image pushed to ``repository`` at ``at`` goes (``deletes``: where its
        deletion or a tag's removal goes, by the rules with deleteReplication), each once, in
        rule order: destinations configured before then only."""
        found: dict[Destination, None] = {}
        for rule in self.rules:
            if rule.covers(repository) and (rule.delete_replication or not deletes):
                for d in rule.destinations:
                    if self.since.get(d, float("inf")) <= at:
                        found[d] = None
        return list(found)

    def validate(self, account: str, region: str, regions: tuple[str, ...],
                 sites: frozenset[str] = frozenset(), max_rules: int = MAX_RULES
                 ) -> "Configuration":
        """ReplicationConfigurationInvalid for what ECR refuses: more rules, filters or unique
        destinations than its limits, a filter not of its form, a destination that is the
        source registry itself or in a region this deployment does not serve (another
        deployment's, a site's, serves its own)."""
        if len(self.rules) > max_rules:
            raise _invalid(f"A replication configuration may have at most {max_rules} rules")
        unique: set[Destination] = set()
        for rule in self.rules:
            if not rule.destinations:
                raise _invalid("Each replication rule needs at least one destination")
            if len(rule.prefixes) > MAX_FILTERS:
                raise _invalid(f"A replication rule may have at most {MAX_FILTERS} filters")
            for prefix in rule.prefixes:
                if not 2 <= len(prefix) <= 256 or not _FILTER.fullmatch(prefix):
                    raise _invalid(f"Invalid repository filter '{prefix}'")
            for d in rule.destinations:
                if (d.region, d.registry_id) == (region, account):
                    raise _invalid("A replication destination cannot be the source registry "
                                   f"itself ({region}, {account})")
                if d.region not in regions and d.registry_id not in sites:
                    raise _invalid(f"The region '{d.region}' is not served by this registry")
            unique.update(rule.destinations)
        if len(unique) > MAX_DESTINATIONS:
            raise _invalid(f"A replication configuration may have at most {MAX_DESTINATIONS} "
                           "unique destinations across its rules")
        return self

    def document(self) -> dict:
        return {"rules": [{"destinations": [[d.region, d.registry_id] for d in r.destinations],
                           "prefixes": list(r.prefixes),
                           "deleteReplication": r.delete_replication} for r in self.rules],
                "since": [[d.region, d.registry_id, at] for d, at in self.since.items()]}

    @classmethod
    def from_document(cls, doc: dict | None) -> "Configuration":
        if not doc:
            return cls()
        rules = tuple(Rule(tuple(Destination(*d) for d in r["destinations"]),
                           tuple(r["prefixes"]), r.get("deleteReplication"))
                      for r in doc["rules"])
        return cls(rules, {Destination(region, account): at
                           for region, account, at in doc.get("since", ())})


def _invalid(message: str) -> ReplicationConfigurationInvalid:
    return ReplicationConfigurationInvalid(message)


class ReplicationConfigurations:
    """The configuration of one registry (an account's, in one region)."""

    def __init__(self, db: Database, registry_id: int):
        self.db = db
        self.registry_id = registry_id

    def get(self) -> Configuration:
        with self.db.read() as tx:
            return Configuration.from_document(read_settings(tx, self.registry_id).get(
                SETTINGS_KEY))

    def put(self, configuration: Configuration, account: str, region: str,
            regions: tuple[str, ...], now: float | None = None) -> Configuration:
        """Replace the rules (validated); a destination keeps the time it was first
        configured while some rule names it, a new one starts now."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            settings = read_settings(tx, self.registry_id, lock=True)
            limit = quotas.registry_value(tx, self.registry_id, RULES_QUOTA)
            configuration.validate(account, region, regions, frozenset(sites_of(settings)),
                                   min(limit, MAX_RULES))
            before = Configuration.from_document(settings.get(SETTINGS_KEY))
            since = {d: before.since.get(d, now) for r in configuration.rules
                     for d in r.destinations}
            stored = Configuration(configuration.rules, since)
            merge_settings(tx, self.registry_id,
                           {SETTINGS_KEY: stored.document() if stored.rules else None})
        return stored


    def statuses(self, repository: str, digest: str) -> list[tuple]:
        """(region, account, status, failure code) of the image's replication to each
        destination it was sent to, as its latest task there stands."""
        with self.db.read() as tx:
            latest = {(r.dest_region, r.dest_account): r
                      for r in task_rows.of_image(tx, self.registry_id, repository, digest)}
        return [(region, account, r.status, r.failure_code)
                for (region, account), r in latest.items()]
