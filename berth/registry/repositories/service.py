"""Repository-level reads: the catalog, tag listings and referrers."""
from __future__ import annotations

import json
from typing import Callable

from ...events import REPOSITORY_CREATED, emit
from ...storage.blobs.keyring import DEPLOYMENT_KEY
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import repositories, tags
from ...storage.metadata.database import Database, Tx
from ..errors import NameUnknown, PaginationInvalid
from ..images.format import OCI_INDEX
from ..references import Digest, validate_name
from ..settings import UnknownRegistryId, read_registry, update_settings

MAX_PAGE = 10000
CREATE_ON_PUSH = "createOnPush"  # registry setting: may a push create a repository


def require_id(tx: Tx, registry_id: int, repository: str) -> int:
    repo_id = repositories.get_id(tx, registry_id, repository)
    if repo_id is None:
        raise name_unknown(repository)
    return repo_id


def name_unknown(repository: str) -> NameUnknown:
    return NameUnknown(f"repository {repository!r} is not known to the registry",
                       {"name": repository})


def create_on_push(tx: Tx, registry_id: int, repository: str,
                   key_ref: str = DEPLOYMENT_KEY) -> int:
    """The repository's id, creating it (with the registry's defaults: MUTABLE, AES256 --
    sealed with ``key_ref``, the deployment's key unless the storage encrypts itself --, no
    scan on push) on first push if the registry allows; every door creates through here."""
    return open_for_push(tx, registry_id, repository, key_ref)[0]


def open_for_push(tx: Tx, registry_id: int, repository: str,
                  key_ref: str = DEPLOYMENT_KEY) -> tuple[int, str]:
    """create_on_push's (id, key ref of the repository: ``key_ref`` if it made it)."""
    repo_id, found_ref = push_target(tx, registry_id, repository, key_ref)
    if repo_id is None:
        _, made = repositories.create(tx, registry_id, repository, key_ref)
        repo_id, found_ref = repositories.find(tx, registry_id, repository)
        if made:
            emit(tx, REPOSITORY_CREATED, registry_id, repository, repositoryId=repo_id,
                 keyRef=key_ref)
    return repo_id, found_ref


def push_target(tx: Tx, registry_id: int, repository: str,
                key_ref: str = DEPLOYMENT_KEY) -> tuple[int | None, str]:
    """(id, key ref) of the repository, or (None, ``key_ref``) if it does not exist yet but
    a push may create it; raises NameUnknown (ECR's wording) if it may not. Uploads ask at
    their start, as ECR refuses them there."""
    found = repositories.find(tx, registry_id, validate_name(repository))
    if found is not None:
        return found.id, found.key_ref
    settings, account = _registry_row(tx, registry_id)
    if not settings.get(CREATE_ON_PUSH, True):
        raise NameUnknown(f"The repository with name '{repository}' does not exist in the "
                          f"registry with id '{account}'", {"name": repository})
    return None, key_ref


def _registry_row(tx: Tx, registry_id: int) -> tuple[dict, str]:
    try:
        return read_registry(tx, registry_id)
    except UnknownRegistryId:  # a registry without a row (unit tests): the defaults
        return {}, str(registry_id)


def create_on_push_enabled(db: Database, registry_id: int) -> bool:
    """The registry's createOnPush setting (default true: ``docker push`` just works)."""
    with db.read() as tx:
        return bool(_registry_row(tx, registry_id)[0].get(CREATE_ON_PUSH, True))


def set_create_on_push(db: Database, registry_id: int, enabled: bool) -> None:
    update_settings(db, registry_id, {CREATE_ON_PUSH: bool(enabled)})


def _page_size(n: int | None) -> int | None:
    if n is not None and not 0 <= n <= MAX_PAGE:
        raise PaginationInvalid(f"n must be between 0 and {MAX_PAGE}", {"n": n})
    return n


class RepositoryService:
    def __init__(self, db: Database, registry_id: int):
        self.db = db
        self.registry_id = registry_id

    def catalog(self, n: int | None, last: str | None,
                visible: Callable[[str, str | None], bool] | None = None
                ) -> tuple[list[str], bool]:
        """A page of repository names, and whether more follow. ``visible(name, policy)``
        filters what the caller may see; pages are filled past the hidden ones."""
        n = _page_size(n)
        names: list[str] = []
        batch = max(n or 0, 100) + 1
        while n is None or len(names) <= n:
            with self.db.read() as tx:
                rows = repositories.list_names(tx, self.registry_id, last,
                                               None if n is None else batch)
            names += [row.name for row in rows if visible is None or visible(*row)]
            if n is None or len(rows) < batch:
                break
            last = rows[-1].name
        return _split_page(names, n)

    def tags(self, repository: str, n: int | None, last: str | None) -> tuple[list[str], bool]:
        n = _page_size(n)
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            names = tags.list_names(tx, repo_id, last, None if n is None else n + 1)
        return _split_page(names, n)

    def referrers(self, repository: str, subject: Digest,
                  artifact_type: str | None) -> dict:
        """An OCI image index listing the manifests whose subject is ``subject``."""
        with self.db.read() as tx:
            repo_id = repositories.get_id(tx, self.registry_id, repository)
            rows = [] if repo_id is None else manifest_rows.referrers(
                tx, repo_id, str(subject), artifact_type)
        return {"schemaVersion": 2, "mediaType": OCI_INDEX,
                "manifests": [_descriptor(row) for row in rows]}


def _split_page(items: list[str], n: int | None) -> tuple[list[str], bool]:
    if n is None:
        return items, False
    return items[:n], len(items) > n


def _descriptor(row) -> dict:
    desc = {"mediaType": row.media_type, "digest": row.digest, "size": row.size}
    if row.artifact_type:
        desc["artifactType"] = row.artifact_type
    if row.annotations:
        desc["annotations"] = json.loads(row.annotations)
    return desc
