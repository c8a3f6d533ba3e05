"""Repositories as ECR manages them: created explicitly with settings (tag mutability with
exclusion filters, scan on push, encryption) and resource tags, described, reconfigured and
deleted."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ...events import REPOSITORY_CREATED, REPOSITORY_DELETED, emit
from ...quotas import services as quotas
from ...storage.metadata import repository_settings as rows
from ...storage.metadata import uploads as upload_rows
from ...storage.metadata.database import Database
from ...storage.metadata.registries import IAM_GENERATION, bump
from ..errors import RepositoryExists, RepositoryNotEmpty, SettingInvalid
from ..references import validate_name
from .encryption import AES256, Encryption
from .resource_tags import apply as apply_tags
from .resource_tags import validate_tags
from .service import name_unknown, require_id

MUTABLE, IMMUTABLE = "MUTABLE", "IMMUTABLE"
WITH_EXCLUSION = ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
ENCRYPTION_TYPES = (AES256, "KMS", "KMS_DSSE")
MAX_EXCLUSIONS = 5
_FILTER = re.compile(r"[0-9a-zA-Z._*-]{1,128}")
# A key id, alias name, or the ARN of either, as ECR's syntax check has it (the key itself is
# looked up in Berth's key store when the repository is made: encryption.py).
_KMS_KEY = re.compile(r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?"
                      r"(key/[0-9a-fA-F-]{1,2000}|alias/[a-zA-Z0-9/_-]{1,250})"
                      r"|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|mrk-[0-9a-f]{32}")


@dataclass(frozen=True)
class TagMutability:
    mode: str = MUTABLE
    exclusions: tuple[str, ...] = ()  # wildcard filters: '*' matches any run of characters

    def validate(self) -> "TagMutability":
        if self.mode not in (MUTABLE, IMMUTABLE, *WITH_EXCLUSION):
            raise SettingInvalid(f"Invalid image tag mutability '{self.mode}'.")
        if self.mode in WITH_EXCLUSION and not self.exclusions:
            raise SettingInvalid(f"Image tag mutability exclusion filters are required when "
                                 f"the image tag mutability is {self.mode}.")
        if self.mode not in WITH_EXCLUSION and self.exclusions:
            raise SettingInvalid(f"Image tag mutability exclusion filters are only allowed "
                                 f"with {' or '.join(WITH_EXCLUSION)}.")
        if len(self.exclusions) > MAX_EXCLUSIONS:
            raise SettingInvalid(f"At most {MAX_EXCLUSIONS} image tag mutability exclusion "
                                 "filters are allowed.")
        for pattern in self.exclusions:
            if not _FILTER.fullmatch(pattern):
                raise SettingInvalid(f"Invalid image tag mutability exclusion filter "
                                     f"'{pattern}'.")
        return self

    def is_immutable(self, tag: str) -> bool:
        """Whether an existing ``tag`` may not be moved to another image."""
        base = self.mode.startswith(IMMUTABLE)
        if self.mode in WITH_EXCLUSION and any(_wildcard(p).fullmatch(tag)
                                               for p in self.exclusions):
            return not base  # an exclusion inverts the repository's rule for that tag
        return base

    def columns(self) -> dict:
        return {"tag_mutability": self.mode, "mutability_exclusions":
                json.dumps(list(self.exclusions)) if self.exclusions else None}

    @classmethod
    def from_columns(cls, mode: str, exclusions: str | None) -> "TagMutability":
        return cls(mode, tuple(json.loads(exclusions)) if exclusions else ())


def _wildcard(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


@dataclass(frozen=True)
class RepositorySettings:
    mutability: TagMutability = field(default_factory=TagMutability)
    scan_on_push: bool = False
    encryption_type: str = AES256
    kms_key: str | None = None

    def validate(self) -> "RepositorySettings":
        self.mutability.validate()
        if self.encryption_type not in ENCRYPTION_TYPES:
            raise SettingInvalid(f"Invalid encryption type '{self.encryption_type}'.")
        if self.kms_key is not None:
            if self.encryption_type == AES256:
                raise SettingInvalid("A KMS key may only be given with the KMS or KMS_DSSE "
                                     "encryption type.")
            if not _KMS_KEY.fullmatch(self.kms_key):
                raise SettingInvalid(f"Invalid KMS key '{self.kms_key}'.")
        return self

    def columns(self) -> dict:
        return {**self.mutability.columns(), "scan_on_push": self.scan_on_push,
                "encryption_type": self.encryption_type, "kms_key": self.kms_key}


@dataclass(frozen=True)
class Repository:
    name: str
    created_at: float
    settings: RepositorySettings
    policy: str | None = None
    key_ref: str = ""  # which key seals its blobs (fixed at creation)


def _repository(row) -> Repository:
    settings = RepositorySettings(
        TagMutability.from_columns(row.tag_mutability, row.mutability_exclusions),
        bool(row.scan_on_push), row.encryption_type, row.kms_key)
    return Repository(row.name, row.created_at, settings, row.policy, row.key_ref)


class RepositorySettingsService:
    def __init__(self, db: Database, registry_id: int, encryption: Encryption = Encryption()):
        self.db = db
        self.registry_id = registry_id
        self.encryption = encryption

    def create(self, name: str, settings: RepositorySettings,
               tags: Iterable[tuple[str, str]] = ()) -> Repository:
        """A new repository with its settings, key and tags, all or nothing. A KMS key is
        stored by its ARN, as ECR describes it."""
        validate_name(name)
        settings.validate()
        wanted = validate_tags(tags)
        with self.db.write() as tx:
            row = insert_repository(tx, self.registry_id, name, settings, wanted,
                                    self.encryption)
            if row is None:
                raise RepositoryExists(f"repository {name!r} exists", {"name": name})
        return _repository(row)

    def get(self, name: str) -> Repository:
        with self.db.read() as tx:
            return _repository(self._row(tx, name))

    def _row(self, tx, name: str, lock: bool = False):
        row = rows.get(tx, self.registry_id, name, lock)
        if row is None:
            raise name_unknown(name)
        return row

    def page(self, after: str | None, limit: int,
             visible: Callable[[Repository], bool] | None = None
             ) -> tuple[list[Repository], str | None]:
        """Up to ``limit`` visible repositories after the name ``after``, and the name to
        continue after (None at the end). Pages are filled past the hidden ones."""
        found: list[Repository] = []
        while True:
            with self.db.read() as tx:
                batch = rows.page(tx, self.registry_id, after, limit + 1)
            for row in batch:
                if len(found) == limit:  # and a row follows: there is more to read
                    return found, found[-1].name
                repository = _repository(row)
                if visible is None or visible(repository):
                    found.append(repository)
            if len(batch) <= limit:
                return found, None
            after = batch[-1].name

    def delete(self, name: str, force: bool = False) -> Repository:
        with self.db.write() as tx:
            # Locked first: a push committing between the check and the delete would
            # otherwise be cascaded away after it was acknowledged.
            row = self._row(tx, name, lock=True)
            if not force and rows.has_images(tx, row.id):
                raise RepositoryNotEmpty(f"repository {name!r} holds images", {"name": name})
            rows.remove(tx, row.id)
            # Its uploads end with it: completing one later must not make it again.
            upload_rows.remove_for_repository(tx, self.registry_id, name)
            emit(tx, REPOSITORY_DELETED, self.registry_id, name, repositoryId=row.id,
                 keyRef=row.key_ref)
            # Authorization caches a repository's policy and tags: a new repository of
            # the same name must not inherit them.
            bump(tx, IAM_GENERATION)
        return _repository(row)

    def set_mutability(self, name: str, mutability: TagMutability) -> TagMutability:
        self._update(name, mutability.validate().columns())
        return mutability

    def set_scan_on_push(self, name: str, scan_on_push: bool) -> bool:
        self._update(name, {"scan_on_push": bool(scan_on_push)})
        return bool(scan_on_push)

    def _update(self, name: str, values: dict) -> None:
        with self.db.write() as tx:
            rows.update_settings(tx, require_id(tx, self.registry_id, name), values)


def insert_repository(tx, registry_id: int, name: str, settings: RepositorySettings,
                      tags: dict[str, str], encryption: Encryption):
    """The new repository's row, with its key (``encryption`` chooses it) and resource tags,
    the event that announces it; None if one of that name exists. Every door makes
    repositories through here."""
    if rows.get(tx, registry_id, name) is not None:
        return None
    quotas.check_repositories(tx, registry_id)
    key_ref, kms_key = encryption.choose(tx, registry_id, settings.encryption_type,
                                         settings.kms_key)
    columns = {**settings.columns(), "kms_key": kms_key, "key_ref": key_ref}
    if not rows.create(tx, registry_id, name, time.time(), columns):
        return None
    row = rows.get(tx, registry_id, name)
    if tags:  # changes what authorization reads (it caches a repository's tags)
        apply_tags(tx, row.id, tags)
    emit(tx, REPOSITORY_CREATED, registry_id, name, repositoryId=row.id, keyRef=key_ref)
    return row


def tag_mutability(tx, repo_id: int) -> TagMutability:
    """The repository's mutability, read inside the caller's transaction."""
    row = rows.mutability(tx, repo_id)
    return TagMutability.from_columns(row.tag_mutability, row.mutability_exclusions)
