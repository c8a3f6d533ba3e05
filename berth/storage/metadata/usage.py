"""Storage used, from the blob links: each stored object counted once per repository, and
once per registry (an account's in one region) however many of its repositories link it."""
from __future__ import annotations

from functools import cache

from sqlalchemy import func, select

from .database import Tx
from .schema import registries, repositories
from .schema import repository_blobs as L


@cache
def _by_repository():
    return (select(registries.c.account_id, registries.c.region, repositories.c.name,
                   func.count(L.c.digest).label("objects"),
                   func.coalesce(func.sum(L.c.size), 0).label("bytes"))
            .select_from(repositories.join(registries, registries.c.id == repositories.c.registry_id)
                         .outerjoin(L, L.c.repository_id == repositories.c.id))
            .group_by(registries.c.account_id, registries.c.region, repositories.c.name)
            .order_by(registries.c.account_id, registries.c.region, repositories.c.name))


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


def by_registry(tx: Tx) -> list:
    """(account_id, region, objects, bytes) per registry with any blobs."""
    return tx.all(_by_registry())
