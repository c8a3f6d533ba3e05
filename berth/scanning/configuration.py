"""Which images are scanned, and how: the registry's scanning configuration (ECR's scan type,
BASIC or ENHANCED, and up to two rules of a scan frequency with repository filters), kept in
the registry's settings, and what it means for one repository. Without rules, a basic
registry honours each repository's own ``scanOnPush``; a rule that names a repository decides
for it (continuous scanning before scan on push)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..registry.settings import read_settings, update_settings
from ..storage.metadata.database import Database, Tx
from .errors import ScanningConfigurationInvalid

KEY = "scanningConfiguration"
BASIC, ENHANCED = "BASIC", "ENHANCED"
SCAN_ON_PUSH, CONTINUOUS, MANUAL = "SCAN_ON_PUSH", "CONTINUOUS_SCAN", "MANUAL"
FREQUENCIES = (SCAN_ON_PUSH, CONTINUOUS, MANUAL)
MAX_RULES, MAX_FILTERS = 2, 100
# The model's pattern for a filter: lowercase names with '*' wildcards.
FILTER = re.compile(r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$")
PRECEDENCE = (CONTINUOUS, SCAN_ON_PUSH, MANUAL)


@dataclass(frozen=True)
class RegistryScanning:
    scan_type: str = BASIC
    rules: tuple[dict, ...] = ()

    def to_json(self) -> dict:
        return {"scanType": self.scan_type, "rules": [dict(r) for r in self.rules]}


@dataclass(frozen=True)
class RepositoryScanning:
    """What applies to one repository: its frequency and the filters that chose it."""
    scan_type: str
    frequency: str
    filters: tuple[dict, ...]
    scan_on_push: bool  # the repository's own setting, as ECR reports it

    @property
    def on_push(self) -> bool:
        return self.frequency in (SCAN_ON_PUSH, CONTINUOUS)

    @property
    def continuous(self) -> bool:
        return self.scan_type == ENHANCED and self.frequency == CONTINUOUS


def validate(scan_type: str, rules: list[dict]) -> RegistryScanning:
    if scan_type not in (BASIC, ENHANCED):
        raise ScanningConfigurationInvalid(f"scanType must be one of {BASIC}, {ENHANCED}")
    if len(rules) > MAX_RULES:
        raise ScanningConfigurationInvalid(f"at most {MAX_RULES} scanning rules are allowed")
    seen = set()
    for rule in rules:
        frequency = rule.get("scanFrequency")
        if frequency not in FREQUENCIES:
            raise ScanningConfigurationInvalid(
                f"scanFrequency must be one of {', '.join(FREQUENCIES)}")
        if scan_type == BASIC and frequency == CONTINUOUS:
            raise ScanningConfigurationInvalid(
                "scanFrequency CONTINUOUS_SCAN is only supported with ENHANCED scanning")
        if frequency in seen:
            raise ScanningConfigurationInvalid(
                f"scanFrequency {frequency} appears in more than one rule")
        seen.add(frequency)
        _check_filters(rule.get("repositoryFilters") or [])
    return RegistryScanning(scan_type, tuple(
        {"scanFrequency": r["scanFrequency"],
         "repositoryFilters": [{"filter": f["filter"], "filterType": f["filterType"]}
                               for f in r.get("repositoryFilters") or []]} for r in rules))


def _check_filters(filters: list[dict]) -> None:
    if len(filters) > MAX_FILTERS:
        raise ScanningConfigurationInvalid(
            f"a scanning rule has at most {MAX_FILTERS} repository filters")
    for f in filters:
        if f.get("filterType") != "WILDCARD":
            raise ScanningConfigurationInvalid("filterType must be WILDCARD")
        value = f.get("filter") or ""
        if not (1 <= len(value) <= 255 and FILTER.match(value)):
            raise ScanningConfigurationInvalid(
                f"the repository filter '{value}' must match {FILTER.pattern}")


def read_configuration(tx: Tx, registry_id: int) -> RegistryScanning:
    """The registry's stored configuration (BASIC without rules until one is put)."""
    data = read_settings(tx, registry_id).get(KEY)
    if not data:
        return RegistryScanning()
    return RegistryScanning(data["scanType"], tuple(data.get("rules") or ()))


def for_repository(config: RegistryScanning, name: str, scan_on_push: bool
                   ) -> RepositoryScanning:
    matched = {}
    for rule in config.rules:
        hit = next((f for f in rule["repositoryFilters"] if fnmatchcase(name, f["filter"])), None)
        if hit is not None:
            matched[rule["scanFrequency"]] = hit
    for frequency in PRECEDENCE:
        if frequency in matched:
            return RepositoryScanning(config.scan_type, frequency, (matched[frequency],),
                                      scan_on_push)
    if config.scan_type == BASIC and scan_on_push:
        return RepositoryScanning(BASIC, SCAN_ON_PUSH, (), True)
    return RepositoryScanning(config.scan_type, MANUAL, (), scan_on_push)


class ScanningConfiguration:
    """A registry's scanning configuration (Put/GetRegistryScanningConfiguration)."""

    def __init__(self, db: Database, registry_id: int):
        self.db, self.registry_id = db, registry_id

    def get(self) -> RegistryScanning:
        with self.db.read() as tx:
            return read_configuration(tx, self.registry_id)

    def put(self, scan_type: str, rules: list[dict]) -> RegistryScanning:
        config = validate(scan_type, rules)
        update_settings(self.db, self.registry_id, {KEY: config.to_json()})
        return config
