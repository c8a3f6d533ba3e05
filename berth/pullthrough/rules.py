"""Pull-through cache rules (ECR's): a repository prefix of the registry (``docker-hub``
covers ``docker-hub/...``; a trailing ``/`` is assumed; ROOT covers repositories no other rule
does) mapped to an upstream registry, optionally to a prefix there (``upstreamRepositoryPrefix``,
only for a non-ROOT rule: ``my-app/x`` -> ``upstream-app/x``), with the credentials to use
(a secret, ``credentialArn``). Beyond ECR's list of upstreams, any OCI registry serves."""
from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass
from typing import Callable

from ..quotas import services as quotas
from ..registry.repositories.templates import (
    PREFIX,
    ROOT,
    Prefixed,
    longest_covering,
    prefix_key,
)
from ..registry.endpoints import split_url
from ..secrets.models import owned_by
from ..storage.metadata import pullthrough as rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database, Tx
from .errors import CredentialUnusable, RuleExists, RuleInvalid, RuleNotFound, TooManyRules

QUOTA = "PullThroughCacheRulesPerRegistry"  # ECR's quota, 50 (berth/quotas)
_ROLE_ARN = re.compile(r"arn:aws[a-z0-9-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
_SECRET_ARN = re.compile(r"arn:aws[a-z0-9-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:"
                         r"ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+")  # the model's form
# Upstreams ECR knows by name (host -> its upstreamRegistry), and those it requires
# credentials for.
_KNOWN = {"registry-1.docker.io": "docker-hub", "docker.io": "docker-hub",
          "public.ecr.aws": "ecr-public", "quay.io": "quay", "registry.k8s.io": "k8s",
          "ghcr.io": "github-container-registry", "registry.gitlab.com":
          "gitlab-container-registry", "cgr.dev": "chainguard"}
_SUFFIXES = {".azurecr.io": "azure-container-registry", ".amazonaws.com": "ecr"}
NEEDS_CREDENTIALS = frozenset({"docker-hub", "github-container-registry",
                               "azure-container-registry", "gitlab-container-registry"})

# A secret resolver: the secret's JSON value, or CredentialUnusable.
Secrets = Callable[[str], dict]


def _invalid(member: str, why: str) -> RuleInvalid:
    return RuleInvalid(f"Invalid parameter at '{member}' failed to satisfy constraint: "
                       f"'{why}'")


def registry_kind(url: str) -> str | None:
    """ECR's ``upstreamRegistry`` for an upstream it knows, None for any other registry."""
    parts = split_url(url)
    host = parts[1].partition(":")[0].lower() if parts else ""
    return _KNOWN.get(host) or next(
        (kind for suffix, kind in _SUFFIXES.items() if host.endswith(suffix)), None)


@dataclass(frozen=True)
class Rule(Prefixed):
    prefix: str
    upstream_url: str
    upstream_registry: str | None = None
    credential_arn: str | None = None
    custom_role_arn: str | None = None
    upstream_role_arn: str | None = None
    upstream_prefix: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def upstream_name(self, repository: str) -> str:
        """The upstream repository a cached one stands for."""
        rest = repository if self.key == ROOT else repository[len(self.key) + 1:]
        if self.upstream_prefix and prefix_key(self.upstream_prefix) != ROOT:
            return f"{prefix_key(self.upstream_prefix)}/{rest}"
        return rest

    def validate(self) -> "Rule":
        for member, value in (("ecrRepositoryPrefix", self.prefix),
                              ("upstreamRepositoryPrefix", self.upstream_prefix)):
            if value is not None and (not PREFIX.fullmatch(value) or
                                      not 2 <= len(value) <= 30):
                raise _invalid(member, f"Invalid prefix {value}")
        if self.upstream_prefix and self.key == ROOT:
            raise RuleInvalid("The upstream repository prefix can only be set when the ECR "
                              "repository prefix is not ROOT")
        self._validate_url()
        if self.credential_arn is not None and not _SECRET_ARN.fullmatch(self.credential_arn):
            raise _invalid("credentialArn", "Member must be a secret ARN whose name starts "
                           "with ecr-pullthroughcache/")
        for member, arn in (("customRoleArn", self.custom_role_arn),
                            ("upstreamRoleArn", self.upstream_role_arn)):
            if arn is not None and not _ROLE_ARN.fullmatch(arn):
                raise _invalid(member, f"Invalid role ARN {arn}")
        if self.upstream_registry in NEEDS_CREDENTIALS and not self.credential_arn:
            raise RuleInvalid(f"A credential ARN is required for the upstream registry "
                              f"{self.upstream_registry}")
        return self

    def _validate_url(self) -> None:
        if split_url(self.upstream_url) is None:
            raise _invalid("upstreamRegistryUrl", f"Invalid upstream registry URL "
                           f"{self.upstream_url}: give a host name (with a port, and http:// "
                           "or https://, if need be)")

    def document(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                           if f.name not in ("created_at", "updated_at")})

    @classmethod
    def from_row(cls, row) -> "Rule":
        return cls(**json.loads(row.document), created_at=row.created_at,
                   updated_at=row.updated_at)


def rule_for(rules: list[Rule], repository: str) -> Rule | None:
    """The rule a repository is cached by: the longest prefix covering it, ROOT last."""
    return longest_covering(rules, repository)


class RuleService:
    """A registry's rules. ``secrets`` resolves a credential ARN (checked when a rule names
    one, so a rule never points at a secret the registry cannot open)."""

    def __init__(self, db: Database, registry_id: int, secrets: Secrets):
        self.db = db
        self.registry_id = registry_id
        self.secrets = secrets

    def create(self, rule: Rule) -> Rule:
        rule._validate_url()
        if rule.upstream_registry is None:
            rule = dataclasses.replace(rule, upstream_registry=registry_kind(rule.upstream_url))
        rule.validate()
        now = time.time()
        with self.db.write() as tx:
            account = self._check_secret(tx, rule.credential_arn)
            existing = {row.prefix for row in rows.rules(tx, self.registry_id)}
            limit = quotas.registry_value(tx, self.registry_id, QUOTA)
            if rule.key not in existing and len(existing) >= limit:
                raise TooManyRules(f"The registry with id '{account}' has {limit} pull "
                                   "through cache rules, the most it may have")
            if not rows.add_rule(tx, self.registry_id, rule.key, rule.document(), now):
                raise RuleExists(f"A pull through cache rule with the ecrRepositoryPrefix "
                                 f"'{rule.prefix}' already exists in the registry with id "
                                 f"'{account}'", {"prefix": rule.prefix})
        return dataclasses.replace(rule, created_at=now, updated_at=now)

    def all(self) -> list[Rule]:
        with self.db.read() as tx:
            return [Rule.from_row(row) for row in rows.rules(tx, self.registry_id)]

    def describe(self, prefixes: list[str] | None = None) -> list[Rule]:
        """The rules by prefix; those named only (each must exist), if ``prefixes`` are."""
        found = {r.key: r for r in self.all()}
        if prefixes is None:
            return sorted(found.values(), key=lambda r: r.key)
        missing = [p for p in prefixes if prefix_key(p) not in found]
        if missing:
            with self.db.read() as tx:
                raise self._not_found(tx, missing[0])
        return sorted({prefix_key(p): found[prefix_key(p)] for p in prefixes}.values(),
                      key=lambda r: r.key)

    def update(self, prefix: str, **changes) -> Rule:
        now = time.time()
        with self.db.write() as tx:
            current = self._find(tx, prefix)
            updated = dataclasses.replace(current, **changes, updated_at=now).validate()
            self._check_secret(tx, updated.credential_arn)
            rows.replace_rule(tx, self.registry_id, current.key, updated.document(), now)
        return updated

    def delete(self, prefix: str) -> Rule:
        with self.db.write() as tx:
            current = self._find(tx, prefix)
            rows.remove_rule(tx, self.registry_id, current.key)
        return current

    def get(self, prefix: str) -> Rule:
        with self.db.read() as tx:
            return self._find(tx, prefix)

    def _find(self, tx: Tx, prefix: str) -> Rule:
        for row in rows.rules(tx, self.registry_id):
            if row.prefix == prefix_key(prefix):
                return Rule.from_row(row)
        raise self._not_found(tx, prefix)

    def _not_found(self, tx: Tx, prefix: str) -> RuleNotFound:
        return RuleNotFound(f"The pull through cache rule with the ecrRepositoryPrefix "
                            f"'{prefix}' does not exist in the registry with id "
                            f"'{self._where(tx)[0]}'", {"prefix": prefix})

    def _where(self, tx: Tx) -> tuple[str, str]:
        row = registry_rows.settings(tx, self.registry_id)
        return (row.account_id, row.region) if row else (str(self.registry_id), "")

    def _check_secret(self, tx: Tx, arn: str | None) -> str:
        """The registry's account, once the secret (if any) is its own, in its region, and
        opens."""
        account, region = self._where(tx)
        if arn is not None:
            if not owned_by(arn, account, region):
                raise CredentialUnusable(f"The secret {arn} is not in the registry's account "
                                         f"and region ({account}, {region})", "no_access")
            self.secrets(arn)
        return account
