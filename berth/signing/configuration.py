"""The registry's signing configuration (ECR's managed signing): up to ten rules, each a
signing profile with optional repository filters (``WILDCARD_MATCH``, ``*`` any sequence);
an image pushed to a repository a rule matches is signed with that rule's profile. Kept in
the registry's settings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..registry.settings import merge_settings, read_settings
from ..storage.metadata.database import Database, Tx
from .models import ARN, SigningConfigurationInvalid, SigningConfigurationNotFound

KEY = "signingConfiguration"
MAX_RULES, MAX_FILTERS = 10, 100
FILTER = re.compile(r"(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*")


@dataclass(frozen=True)
class SigningConfiguration:
    rules: tuple[dict, ...]

    def to_json(self) -> dict:
        return {"rules": [dict(r) for r in self.rules]}

    def profiles_for(self, repository: str) -> list[str]:
        """The profile ARNs whose rules match the repository, each once, in rule order."""
        found: list[str] = []
        for rule in self.rules:
            filters = rule.get("repositoryFilters") or []
            if ((not filters or any(fnmatchcase(repository, f["filter"]) for f in filters))
                    and rule["signingProfileArn"] not in found):
                found.append(rule["signingProfileArn"])
        return found


def validate(rules: list[dict]) -> SigningConfiguration:
    if len(rules) > MAX_RULES:
        raise SigningConfigurationInvalid(f"A signing configuration has at most {MAX_RULES} "
                                          "rules")
    kept = []
    for rule in rules:
        arn = rule.get("signingProfileArn") or ""
        if not (len(arn) <= 200 and ARN.fullmatch(arn)):
            raise SigningConfigurationInvalid(f"'{arn}' is not a valid signing profile ARN")
        kept.append({"signingProfileArn": arn, **_filters(rule)})
    return SigningConfiguration(tuple(kept))


def _filters(rule: dict) -> dict:
    if "repositoryFilters" not in rule or rule["repositoryFilters"] is None:
        return {}
    filters = rule["repositoryFilters"]
    if not 1 <= len(filters) <= MAX_FILTERS:
        raise SigningConfigurationInvalid(
            f"A signing rule has 1 to {MAX_FILTERS} repository filters (or none at all)")
    for f in filters:
        if f.get("filterType") != "WILDCARD_MATCH":
            raise SigningConfigurationInvalid("filterType must be WILDCARD_MATCH")
        value = f.get("filter") or ""
        if not (1 <= len(value) <= 256 and FILTER.fullmatch(value)):
            raise SigningConfigurationInvalid(f"'{value}' is not a valid repository filter")
    return {"repositoryFilters": [{"filter": f["filter"], "filterType": f["filterType"]}
                                  for f in filters]}


def read(tx: Tx, registry_id: int) -> SigningConfiguration | None:
    data = read_settings(tx, registry_id).get(KEY)
    return None if data is None else SigningConfiguration(tuple(data["rules"]))


class SigningConfigurations:
    """A registry's signing configuration (Put/Get/DeleteSigningConfiguration)."""

    def __init__(self, db: Database, registry_id: int):
        self.db, self.registry_id = db, registry_id

    def get(self) -> SigningConfiguration:
        with self.db.read() as tx:
            found = read(tx, self.registry_id)
        if found is None:
            raise _not_found()
        return found

    def put(self, rules: list[dict]) -> SigningConfiguration:
        config = validate(rules)
        with self.db.write() as tx:
            merge_settings(tx, self.registry_id, {KEY: config.to_json()})
        return config

    def delete(self) -> SigningConfiguration:
        with self.db.write() as tx:
            found = read(tx, self.registry_id)
            if found is None:
                raise _not_found()
            merge_settings(tx, self.registry_id, {KEY: None})
        return found


def _not_found() -> SigningConfigurationNotFound:
    return SigningConfigurationNotFound("No signing configuration is set for this registry")
