"""What anyone may see of the public registries (the gallery): repositories found by name
and description, a registry's repositories by its alias, a repository's catalog data and its
tags with their images' sizes, platforms and push dates."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..iam.tenancy import PUBLIC
from ..registry.images.anatomy import ImageAnatomy
from ..registry.images.service import ImageId
from ..registry.registry import Registry
from ..storage.metadata import public as rows
from ..storage.metadata import registries as registry_rows
from .models import PublicRegistry, RepositoryCatalog
from .services import PublicRegistries


@dataclass(frozen=True)
class Listing:
    alias: str
    name: str
    created_at: float
    catalog: RepositoryCatalog


@dataclass(frozen=True)
class TagView:
    tag: str
    digest: str
    size: int
    pushed_at: float
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class RepositoryView:
    listing: Listing
    registry: PublicRegistry
    tags: tuple[TagView, ...]
    more_tags: bool


def _listing(row) -> Listing:
    data = json.loads(row.data) if row.data else {}
    return Listing(row.alias, row.name, row.created_at, RepositoryCatalog.from_data(data, None))


def _matches(listing: Listing, words: list[str]) -> bool:
    text = f"{listing.alias}/{listing.name} {listing.catalog.description}".casefold()
    return all(word in text for word in words)


class Gallery:
    def __init__(self, registry: Registry, registries: PublicRegistries):
        self.registry = registry
        self.registries = registries

    def search(self, text: str, limit: int, offset: int = 0) -> tuple[list[Listing], int]:
        """The repositories whose name or description holds every word of ``text`` (any
        case), by alias and name: a page of them and how many there are."""
        words = text.casefold().split()
        with self.registry.db.read() as tx:
            found = [_listing(row) for row in rows.listings(tx, PUBLIC)]
        matched = [listing for listing in found if _matches(listing, words)]
        return matched[offset:offset + limit], len(matched)

    def registry_page(self, alias: str) -> tuple[PublicRegistry, list[Listing]] | None:
        account = self.registries.account_of(alias)
        registry = account and self.registries.get(account)
        if not registry or registry.alias != alias:
            return None
        with self.registry.db.read() as tx:
            found = [_listing(row) for row in rows.listings(tx, PUBLIC, alias)]
        return registry, found

    def repository(self, alias: str, name: str, tag_limit: int) -> RepositoryView | None:
        page = self.registry_page(alias)
        listing = page and next((item for item in page[1] if item.name == name), None)
        if not listing:
            return None
        with self.registry.db.read() as tx:
            registry_id = registry_rows.registry_id(tx, page[0].account_id, PUBLIC)
        scoped = self.registry.scoped(registry_id)
        tags, more = self._tags(scoped, name, tag_limit)
        catalog = scoped.public_catalogs.get(name)  # with its logo
        return RepositoryView(Listing(alias, name, listing.created_at, catalog), page[0],
                              tags, more)

    def logo(self, alias: str, name: str | None) -> bytes | None:
        """A repository's logo (``name``), else the registry's."""
        page = self.registry_page(alias)
        if page is None:
            return None
        if name is None:
            return page[0].logo
        if not any(item.name == name for item in page[1]):
            return None
        with self.registry.db.read() as tx:
            registry_id = registry_rows.registry_id(tx, page[0].account_id, PUBLIC)
        return self.registry.scoped(registry_id).public_catalogs.get(name).logo

    @staticmethod
    def _tags(scoped: Registry, name: str, limit: int) -> tuple[tuple[TagView, ...], bool]:
        """The newest tags first (by their images' push), up to ``limit``."""
        images = scoped.images
        ids, _ = images.list_ids(name, "TAGGED", None, 10_000, "ACTIVE")
        details = {d.digest: d for d in images.describe(
            name, [ImageId(digest, None) for digest in {i.digest for i in ids}])} if ids else {}
        ordered = sorted(ids, key=lambda i: (-details[i.digest].pushed_at, i.tag))
        anatomy = ImageAnatomy(scoped)
        platforms: dict[str, tuple[str, ...]] = {}
        views = []
        for image_id in ordered[:limit]:
            d = details[image_id.digest]
            if d.digest not in platforms:
                platforms[d.digest] = tuple(anatomy.of(name, d.digest).platform_names)
            views.append(TagView(image_id.tag, d.digest, d.total_size, d.pushed_at,
                                 platforms[d.digest]))
        return tuple(views), len(ordered) > limit
