"""Repository-level reads: the catalog, tag listings and referrers."""
from __future__ import annotations

import json
from typing import Callable

from ...concurrency import blocking, quick_read
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import repositories, tags
from ...storage.metadata.database import Database, Tx
from ..errors import NameUnknown, PaginationInvalid
from ..images.format import OCI_INDEX
from ..references import Digest

MAX_PAGE = 10000
INLINE_TAG_PAGE = 1000  # pages up to this many tags are read on the event loop (SQLite)


def require_id(tx: Tx, registry_id: int, repository: str) -> int:
    repo_id = repositories.get_id(tx, registry_id, repository)
    if repo_id is None:
        raise name_unknown(repository)
    return repo_id


def name_unknown(repository: str) -> NameUnknown:
    return NameUnknown(f"repository {repository!r} is not known to the registry",
                       {"name": repository})


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


    # -- for coroutines (the registry protocol's routes): the service picks the thread ----
    async def catalog_async(self, n: int | None, last: str | None,
                            visible: Callable[[str, str | None], bool] | None = None
                            ) -> tuple[list[str], bool]:
        return await blocking(self.catalog, n, last, visible)

    async def tags_async(self, repository: str, n: int | None,
                         last: str | None) -> tuple[list[str], bool]:
        # A page is a read of tens of microseconds on SQLite: cheaper on the loop than a hop.
        inline = self.db.inline_reads and n is not None and n <= INLINE_TAG_PAGE
        return await quick_read(inline, self.tags, repository, n, last)

    async def referrers_async(self, repository: str, subject: Digest,
                              artifact_type: str | None) -> dict:
        return await blocking(self.referrers, repository, subject, artifact_type)


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
