"""Repositories the registry makes on someone's behalf: for a push (only where a
CREATE_ON_PUSH template covers the name, and the pusher may ecr:CreateRepository), for a
pull-through cache, or as a replication destination; each with the settings of the template
applied for that purpose, else the defaults (MUTABLE, AES256, no policies)."""
from __future__ import annotations

import time

from ...storage.metadata import lifecycle as lifecycle_rows
from ...storage.metadata import repositories
from ...storage.metadata.database import Tx
from ...storage.metadata.registries import IAM_GENERATION, bump
from ..errors import RegistryError
from ..references import validate_name
from .encryption import Encryption
from .service import name_unknown
from .settings import RepositorySettings, insert_repository
from .templates import CREATE_ON_PUSH, Template, for_purpose


class CreationNeedsPermission(RegistryError):
    """A push would make the repository (a template allows it): whether the pusher may
    (ecr:CreateRepository) is the front-end's to decide, and to ask again with leave."""


def open_for_push(tx: Tx, registry_id: int, repository: str, encryption: Encryption,
                  may_create: bool = True) -> tuple[int, str]:
    """(id, key ref) of the repository a push writes to, made now if it is missing and a
    CREATE_ON_PUSH template covers it: with ``may_create`` (the pusher's leave), else
    CreationNeedsPermission. Without a template, NameUnknown."""
    found = repositories.find(tx, registry_id, validate_name(repository))
    if found is not None:
        return found.id, found.key_ref
    template = for_purpose(tx, registry_id, repository, CREATE_ON_PUSH)
    if template is None:
        raise name_unknown(repository)
    if not may_create:
        raise CreationNeedsPermission(f"pushing to {repository!r} would create it",
                                      {"name": repository})
    return create_from(tx, registry_id, repository, template, encryption)


def create_from(tx: Tx, registry_id: int, name: str, template: Template | None,
                encryption: Encryption) -> tuple[int, str]:
    """(id, key ref) of the repository made with the template's settings (its tag
    mutability, encryption, resource tags, repository and lifecycle policies), or of the
    one a concurrent request made first."""
    settings = RepositorySettings() if template is None else RepositorySettings(
        template.mutability, False, template.encryption_type, template.kms_key)
    tags = {} if template is None else dict(template.resource_tags)
    row = insert_repository(tx, registry_id, name, settings, tags, encryption)
    if row is None:
        found = repositories.find(tx, registry_id, name)
        return found.id, found.key_ref
    if template is not None and template.repository_policy:
        repositories.set_policy(tx, registry_id, name, template.repository_policy)
        bump(tx, IAM_GENERATION)
    if template is not None and template.lifecycle_policy:
        lifecycle_rows.put_policy(tx, row.id, template.lifecycle_policy, time.time())
    return row.id, row.key_ref

