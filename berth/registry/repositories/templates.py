"""Repository creation templates: the settings a repository gets when the registry makes it
on someone's behalf -- on push (CREATE_ON_PUSH), for a pull-through cache
(PULL_THROUGH_CACHE), as a replication destination (REPLICATION). A template covers the
repositories under its prefix (``prod`` covers ``prod/...``; a trailing ``/`` is assumed),
ROOT those no other covers; of the templates applied for a purpose, the longest prefix wins.
Without one, a repository pushed to does not exist, and one made for the other purposes gets
the defaults (MUTABLE, AES256, no policies)."""
from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field

from ...iam.policy import PolicyError, parse_policy
from ...lifecycle.errors import PolicyInvalid
from ...lifecycle.policy import parse
from ...storage.metadata import creation_templates as rows
from ...storage.metadata.database import Database, Tx
from ..errors import RegistryError, SettingInvalid
from ..settings import UnknownRegistryId, read_registry
from .encryption import AES256
from .resource_tags import validate_tags
from .settings import ENCRYPTION_TYPES, TagMutability

ROOT = "ROOT"
REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH = "REPLICATION", "PULL_THROUGH_CACHE", \
    "CREATE_ON_PUSH"
APPLIED_FOR = (REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH)
MAX_TEMPLATES = 50  # Berth's limit per registry (ECR documents none; its rules' is 50)
DESCRIPTION_MAX = 256
PREFIX = re.compile(r"([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
                     r"/?|ROOT)")
_KMS_ARN = re.compile(r"arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-z0-9-]+")
_ROLE_ARN = re.compile(r"arn:aws[a-z0-9-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}")


class TemplateExists(RegistryError):
    """A repository creation template with that prefix exists."""


class TemplateNotFound(RegistryError):
    """No repository creation template has that prefix."""


class TooManyTemplates(RegistryError):
    """The registry has as many repository creation templates as it may."""


def prefix_key(prefix: str) -> str:
    """The form a prefix is matched and stored by: ``prod/`` and ``prod`` are one prefix."""
    return prefix if prefix == ROOT else prefix.rstrip("/")


class Prefixed:
    """A setting for the repositories under its prefix (``prod`` covers ``prod/...``; ROOT
    those no other covers)."""
    prefix: str

    @property
    def key(self) -> str:
        return prefix_key(self.prefix)

    def covers(self, repository: str) -> bool:
        return self.key == ROOT or repository.startswith(self.key + "/")


def longest_covering(found, repository: str):
    """Of ``found`` (Prefixed), the one with the longest prefix covering the repository,
    ROOT last; None if none does."""
    return max((p for p in found if p.covers(repository)),
               key=lambda p: -1 if p.key == ROOT else len(p.key), default=None)


@dataclass(frozen=True)
class Template(Prefixed):
    prefix: str
    applied_for: tuple[str, ...]
    description: str | None = None
    mutability: TagMutability = field(default_factory=TagMutability)
    encryption_type: str = AES256
    kms_key: str | None = None
    resource_tags: tuple[tuple[str, str], ...] = ()
    repository_policy: str | None = None
    lifecycle_policy: str | None = None
    custom_role_arn: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def validate(self, account_id: str) -> "Template":
        """SettingInvalid naming the first setting ECR would refuse (policies are parsed as
        SetRepositoryPolicy and PutLifecyclePolicy parse them)."""
        if not PREFIX.fullmatch(self.prefix) or len(self.prefix) > 256:
            raise SettingInvalid(f"Invalid parameter at 'prefix' failed to satisfy "
                                 f"constraint: 'Invalid prefix {self.prefix}'")
        if not self.applied_for or set(self.applied_for) - set(APPLIED_FOR):
            raise SettingInvalid("Invalid parameter at 'appliedFor' failed to satisfy "
                                 f"constraint: 'Member must be one or more of "
                                 f"{', '.join(APPLIED_FOR)}'")
        if self.description is not None and len(self.description) > DESCRIPTION_MAX:
            raise SettingInvalid(f"Invalid parameter at 'description' failed to satisfy "
                                 f"constraint: 'Member must have length less than or equal "
                                 f"to {DESCRIPTION_MAX}'")
        self.mutability.validate()
        self._validate_encryption()
        validate_tags(self.resource_tags)
        self._validate_policies()
        role = self.custom_role_arn and _ROLE_ARN.fullmatch(self.custom_role_arn)
        if self.custom_role_arn and (not role or role.group(1) != account_id):
            raise SettingInvalid(f"Invalid parameter at 'customRoleArn' failed to satisfy "
                                 f"constraint: 'The role {self.custom_role_arn} must be a role "
                                 f"of the registry's account {account_id}'")
        return self

    def _validate_encryption(self) -> None:
        if self.encryption_type not in ENCRYPTION_TYPES:
            raise SettingInvalid(f"Invalid encryption type '{self.encryption_type}'.")
        if self.kms_key and self.encryption_type == AES256:
            raise SettingInvalid("A KMS key may only be given with the KMS or KMS_DSSE "
                                 "encryption type.")
        if self.kms_key and not _KMS_ARN.fullmatch(self.kms_key):
            raise SettingInvalid(f"Invalid parameter at 'kmsKey' failed to satisfy constraint: "
                                 f"'The KMS key must be a key ARN: {self.kms_key}'")

    def _validate_policies(self) -> None:
        if self.repository_policy:
            try:
                parse_policy(self.repository_policy, kind="resource", name="repository policy")
            except PolicyError:
                raise SettingInvalid("Invalid parameter at 'repositoryPolicy' failed to "
                                     "satisfy constraint: 'Invalid repository policy "
                                     "provided'") from None
        if self.lifecycle_policy:
            try:
                parse(self.lifecycle_policy)
            except PolicyInvalid as exc:
                raise SettingInvalid("Invalid parameter at 'lifecyclePolicy' failed to satisfy "
                                     f"constraint: 'Lifecycle policy validation failure: "
                                     f"{exc.message}'") from None

    def document(self) -> str:
        return json.dumps({
            "prefix": self.prefix, "appliedFor": list(self.applied_for),
            "description": self.description, "imageTagMutability": self.mutability.mode,
            "exclusions": list(self.mutability.exclusions),
            "encryptionType": self.encryption_type, "kmsKey": self.kms_key,
            "resourceTags": [list(pair) for pair in self.resource_tags],
            "repositoryPolicy": self.repository_policy,
            "lifecyclePolicy": self.lifecycle_policy, "customRoleArn": self.custom_role_arn})

    @classmethod
    def from_row(cls, row) -> "Template":
        d = json.loads(row.document)
        return cls(d["prefix"], tuple(d["appliedFor"]), d.get("description"),
                   TagMutability(d.get("imageTagMutability") or "MUTABLE",
                                 tuple(d.get("exclusions") or ())),
                   d.get("encryptionType") or AES256, d.get("kmsKey"),
                   tuple(tuple(pair) for pair in d.get("resourceTags") or ()),
                   d.get("repositoryPolicy"), d.get("lifecyclePolicy"),
                   d.get("customRoleArn"), row.created_at, row.updated_at)


def for_purpose(tx: Tx, registry_id: int, repository: str, purpose: str) -> Template | None:
    """The template a repository made for ``purpose`` gets: of those applied for it that
    cover the name, the longest prefix (ROOT last); None if none does."""
    return longest_covering([t for t in map(Template.from_row, rows.all_of(tx, registry_id))
                             if purpose in t.applied_for], repository)


def write_root(tx: Tx, registry_id: int, applied_for: tuple[str, ...], description: str) -> None:
    """A ROOT template with the defaults, unless the registry has one (a first start's)."""
    template = Template(ROOT, applied_for, description)
    rows.add(tx, registry_id, ROOT, template.document(), time.time())


def account_of(tx: Tx, registry_id: int) -> str:
    """The registry's account, as ECR's messages name a registry."""
    try:
        return read_registry(tx, registry_id)[1]
    except UnknownRegistryId:  # a registry without a row (unit tests)
        return str(registry_id)


class TemplateService:
    def __init__(self, db: Database, registry_id: int):
        self.db = db
        self.registry_id = registry_id

    def create(self, template: Template) -> Template:
        now = time.time()
        with self.db.write() as tx:
            account = account_of(tx, self.registry_id)
            template.validate(account)
            if rows.count(tx, self.registry_id) >= MAX_TEMPLATES:
                raise TooManyTemplates(f"The registry with id '{account}' has "
                                       f"{MAX_TEMPLATES} repository creation templates, the "
                                       "most it may have")
            if not rows.add(tx, self.registry_id, template.key, template.document(), now):
                raise TemplateExists(f"A repository creation template with the prefix "
                                     f"'{template.prefix}' already exists in the registry "
                                     f"with id '{account}'", {"prefix": template.prefix})
        return dataclasses.replace(template, created_at=now, updated_at=now)

    def describe(self, prefixes: list[str] | None = None) -> list[Template]:
        """The registry's templates by prefix; only those named, if ``prefixes`` are."""
        wanted = None if prefixes is None else {prefix_key(p) for p in prefixes}
        with self.db.read() as tx:
            found = [Template.from_row(row) for row in rows.all_of(tx, self.registry_id)
                     if wanted is None or row.prefix in wanted]
        return sorted(found, key=lambda t: t.key)

    def update(self, prefix: str, **changes) -> Template:
        """The template with ``changes`` (Template's fields) made; the others are kept."""
        now = time.time()
        with self.db.write() as tx:
            current = self._find(tx, prefix)
            updated = dataclasses.replace(current, **changes, updated_at=now)
            updated.validate(account_of(tx, self.registry_id))
            rows.replace(tx, self.registry_id, current.key, updated.document(), now)
        return updated

    def delete(self, prefix: str) -> Template:
        with self.db.write() as tx:
            current = self._find(tx, prefix)
            rows.remove(tx, self.registry_id, current.key)
        return current

    def _find(self, tx: Tx, prefix: str) -> Template:
        key = prefix_key(prefix)
        for row in rows.all_of(tx, self.registry_id):
            if row.prefix == key:
                return Template.from_row(row)
        raise TemplateNotFound(f"The repository creation template with the prefix '{prefix}' "
                               f"does not exist in the registry with id "
                               f"'{account_of(tx, self.registry_id)}'",
                               {"prefix": prefix})
