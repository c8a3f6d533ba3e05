"""Storage used, from the blob links: each stored object counted once per repository, and
once per registry (an account's in one region) however many of its repositories link it; and
per repository apart for the objects only archived images reference (the archive class)."""
from __future__ import annotations

from functools import cache

from sqlalchemy import and_, case, func, select

from .database import Tx
from .schema import manifest_references as R
from .schema import manifests as M
from .schema import registries, repositories
from .schema import repository_blobs as L


def _located():
    """Repositories with their registry's account and region."""
    return repositories.join(registries, registries.c.id == repositories.c.registry_id)


@cache
def _by_repository():
    return (select(registries.c.account_id, registries.c.region, repositories.c.name,
                   func.count(L.c.digest).label("objects"),
                   func.coalesce(func.sum(L.c.size), 0).label("bytes"))
            .select_from(_located().outerjoin(L, L.c.repository_id == repositories.c.id))
            .group_by(registries.c.account_id, registries.c.region, repositories.c.name)
            .order_by(registries.c.account_id, registries.c.region, repositories.c.name))


def _links_archived():
    """Each link with ``archived`` 1 when manifests reference it and all of them are archived
    (an ACTIVATING one is on its way back: not), else 0."""
    only_archived = func.min(case((M.c.image_status == "ARCHIVED", 1), else_=0))
    refs = (select(R.c.repository_id, R.c.child_digest, only_archived.label("archived"))
            .select_from(R.join(M, and_(M.c.repository_id == R.c.repository_id,
                                        M.c.digest == R.c.parent_digest)))
            .where(R.c.kind == "blob")
            .group_by(R.c.repository_id, R.c.child_digest)
            .subquery())
    # Computed per link here so that the grouping below is by a plain column (PostgreSQL
    # refuses a GROUP BY expression whose bound parameters differ from the SELECT's).
    return (select(L.c.repository_id, L.c.digest, L.c.size,
                   func.coalesce(refs.c.archived, 0).label("archived"))
            .select_from(L.outerjoin(refs, and_(refs.c.repository_id == L.c.repository_id,
                                                refs.c.child_digest == L.c.digest)))
            .subquery())


@cache
def _by_repository_archived():
    links = _links_archived()
    return (select(registries.c.account_id, registries.c.region, repositories.c.name,
                   links.c.archived, func.count(links.c.digest).label("objects"),
                   func.coalesce(func.sum(links.c.size), 0).label("bytes"))
            .select_from(_located().outerjoin(links,
                                              links.c.repository_id == repositories.c.id))
            .group_by(registries.c.account_id, registries.c.region, repositories.c.name,
                      links.c.archived)
            .order_by(registries.c.account_id, registries.c.region, repositories.c.name,
                      links.c.archived))


@cache
def _by_registry():
    objects = (select(repositories.c.registry_id, repositories.c.key_ref, L.c.digest,
                      func.max(L.c.size).label("size"))
               .select_from(L.join(repositories, repositories.c.id == L.c.repository_id))
               .group_by(repositories.c.registry_id, repositories.c.key_ref, L.c.digest)
               .subquery())
    return (select(registries.c.account_id, registries.c.region,
                   func.count().label("objects"), func.sum(objects.c.size).label("bytes"))
            .select_from(objects.join(registries, registries.c.id == objects.c.registry_id))
            .group_by(registries.c.account_id, registries.c.region)
            .order_by(registries.c.account_id, registries.c.region))


def by_repository(tx: Tx) -> list:
    """(account_id, region, name, objects, bytes) per repository."""
    return tx.all(_by_repository())


def by_repository_archived(tx: Tx) -> list:
    """(account_id, region, name, archived, objects, bytes) per repository and ``archived``:
    1 for the objects that only archived manifests reference, 0 for the others, None for a
    repository that links nothing."""
    return tx.all(_by_repository_archived())


def by_registry(tx: Tx) -> list:
    """(account_id, region, objects, bytes) per registry with any blobs."""
    return tx.all(_by_registry())
