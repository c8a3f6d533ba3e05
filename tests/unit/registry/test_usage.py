"""Storage used (berth.registry.usage.storage_usage), on SQLite and PostgreSQL, from state
built through the domain: per registry each stored object (key ref + digest) counts once
however many of its repositories link it; per repository each blob it links."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.iam.identities import IdentityService
from berth.keys.master import MasterKey
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.registry.repositories.encryption import Encryption
from berth.registry.repositories.settings import RepositorySettings, RepositorySettingsService
from berth.registry.usage import Usage, storage_usage
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create

EAST, WEST = "us-east-1", "eu-west-1"
SHARED = os.urandom(3000)
APP_ONLY = os.urandom(1000)
LIB_ONLY = os.urandom(500)
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


@dataclass
class World:
    db: Database
    blobs: Path
    team_a: str
    team_b: str
    a_east: int
    a_west: int
    b_east: int

    def registry(self, registry_id: int, plain: bool = False) -> Registry:
        """The domain over registry ``registry_id``: new repositories sealed with the
        deployment key ("aes256"), or with no key ("") when ``plain`` (storage that
        encrypts itself)."""
        pushes_create(self.db, registry_id)
        return Registry.create(self.db, FilesystemDriver(self.blobs), 4 * 1024 * 1024,
                               registry_id=registry_id,
                               encryption=Encryption(storage_encrypted=plain))

    def key_ref(self, registry_id: int, repository: str) -> str:
        with self.db.read() as tx:
            return repository_rows.find(tx, registry_id, repository).key_ref


@pytest.fixture
def world(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    identities = IdentityService(db, MasterKey(os.urandom(32)))
    team_a = identities.create_account("team-a").id
    team_b = identities.create_account("team-b").id
    with db.write() as tx:
        ids = [registry_rows.ensure_registry(tx, account, region)
               for account, region in ((team_a, EAST), (team_a, WEST), (team_b, EAST))]
    yield World(db, tmp_path / "blobs", team_a, team_b, *ids)
    db.dispose()


def push_image(registry: Registry, repository: str, tag: str, *layers: bytes,
               config: bytes) -> int:
    """An OCI image of ``layers`` pushed as clients do; the bytes of its blobs."""
    descriptors = []
    for data in (config, *layers):
        registry.uploads.put_small(repository, Digest.of(data), data)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": str(Digest.of(data)), "size": len(data)})
    descriptors[0]["mediaType"] = CONFIG_TYPE
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptors[0], "layers": descriptors[1:]}).encode()
    registry.manifests.put(repository, tag, body, OCI_MANIFEST)
    return len(config) + sum(len(layer) for layer in layers)


def _config(name: str) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "name": name}).encode()


def _by_location(found) -> dict:
    return {(entry.account_id, entry.region): entry for entry in found}


def _check_types(found) -> None:
    for entry in found:
        for usage in (entry.total, *entry.repositories.values()):
            assert type(usage.objects) is int and type(usage.bytes) is int, usage


def test_a_layer_shared_under_one_key_ref_counts_once_in_the_registry(world):
    registry = world.registry(world.a_east)
    app_config, lib_config = _config("app"), _config("lib")
    app_bytes = push_image(registry, "team/app", "v1", SHARED, APP_ONLY, config=app_config)
    lib_bytes = push_image(registry, "team/lib", "v1", SHARED, LIB_ONLY, config=lib_config)
    # A second image in team/app with the same layer links nothing new.
    push_image(registry, "team/app", "v2", SHARED, config=app_config)
    assert world.key_ref(world.a_east, "team/app") == world.key_ref(
        world.a_east, "team/lib") == "aes256"

    found = storage_usage(world.db)
    _check_types(found)
    assert [(e.account_id, e.region) for e in found] == [(world.team_a, EAST)]
    [entry] = found
    assert entry.repositories == {"team/app": Usage(3, app_bytes),
                                  "team/lib": Usage(3, lib_bytes)}
    assert list(entry.repositories) == ["team/app", "team/lib"]
    distinct = len(SHARED) + len(APP_ONLY) + len(LIB_ONLY) + len(app_config) + len(lib_config)
    assert entry.total == Usage(5, distinct), "SHARED is one object in the registry"


def test_a_layer_under_two_key_refs_is_two_objects(world):
    sealed = world.registry(world.a_east)
    plain = world.registry(world.a_east, plain=True)
    config = _config("same")
    image = push_image(sealed, "team/sealed", "v1", SHARED, config=config)
    assert push_image(plain, "team/plain", "v1", SHARED, config=config) == image
    push_image(sealed, "team/sealed-too", "v1", SHARED, config=config)
    assert world.key_ref(world.a_east, "team/sealed") == "aes256"
    assert world.key_ref(world.a_east, "team/plain") == ""

    [entry] = storage_usage(world.db)
    assert entry.repositories == {"team/plain": Usage(2, image), "team/sealed": Usage(2, image),
                                  "team/sealed-too": Usage(2, image)}
    # config + SHARED under "aes256" (linked twice) and again under "".
    assert entry.total == Usage(4, 2 * image)


def test_registries_count_apart_and_filter_by_account(world):
    config = _config("x")
    a_east = push_image(world.registry(world.a_east), "team/app", "v1", SHARED, config=config)
    a_west = push_image(world.registry(world.a_west), "team/app", "v1", SHARED, APP_ONLY,
                        config=config)
    b_east = push_image(world.registry(world.b_east), "team/app", "v1", SHARED, LIB_ONLY,
                        config=config)

    everything = storage_usage(world.db)
    _check_types(everything)
    assert [(e.account_id, e.region) for e in everything] == sorted(
        [(world.team_a, EAST), (world.team_a, WEST), (world.team_b, EAST)])
    by = _by_location(everything)
    assert by[world.team_a, EAST].total == Usage(2, a_east)
    assert by[world.team_a, WEST].total == Usage(3, a_west)
    assert by[world.team_b, EAST].total == Usage(3, b_east)
    assert by[world.team_b, EAST].repositories == {"team/app": Usage(3, b_east)}

    mine = storage_usage(world.db, world.team_a)
    # In account and region order, as everything else.
    assert [(e.account_id, e.region) for e in mine] == [(world.team_a, WEST),
                                                        (world.team_a, EAST)]
    assert _by_location(mine) == {k: v for k, v in by.items() if k[0] == world.team_a}
    theirs = storage_usage(world.db, world.team_b)
    assert _by_location(theirs) == {(world.team_b, EAST): by[world.team_b, EAST]}
    assert storage_usage(world.db, "999999999999") == []


def test_empty_repositories_are_listed_with_zero(world):
    settings = RepositorySettingsService(world.db, world.a_east)
    settings.create("team/empty", RepositorySettings())
    # Team B's registry has only an empty repository: listed, with a zero total.
    RepositorySettingsService(world.db, world.b_east).create("team/nothing",
                                                             RepositorySettings())
    image = push_image(world.registry(world.a_east), "team/app", "v1", SHARED,
                       config=_config("app"))

    by = _by_location(storage_usage(world.db))
    _check_types(by.values())
    assert by[world.team_a, EAST].repositories == {"team/app": Usage(2, image),
                                                    "team/empty": Usage(0, 0)}
    assert by[world.team_a, EAST].total == Usage(2, image)
    assert by[world.team_b, EAST].repositories == {"team/nothing": Usage(0, 0)}
    assert by[world.team_b, EAST].total == Usage(0, 0)
    only_b = storage_usage(world.db, world.team_b)
    assert [(e.account_id, e.region, e.total, e.repositories) for e in only_b] == [
        (world.team_b, EAST, Usage(0, 0), {"team/nothing": Usage(0, 0)})]


def test_nothing_stored_nothing_listed(world):
    assert storage_usage(world.db) == []
    assert storage_usage(world.db, world.team_a) == []
