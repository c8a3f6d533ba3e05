import json

import pytest

from berth.gc import GarbageCollector
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create

GRACE = 100.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def registry(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024,
                          registry_id=1, grace_seconds=GRACE)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()


@pytest.fixture
def collector(registry):
    return GarbageCollector(registry.db, registry.driver, GRACE, page=3, delete_batch=2)


def push_blob(registry, repository: str, data: bytes) -> dict:
    digest = Digest.of(data)
    registry.uploads.put_small(repository, digest, data)
    return {"mediaType": "application/octet-stream", "digest": str(digest), "size": len(data)}


def push_image(registry, repository: str, tag: str | None, *layers: bytes,
               config: bytes = b"{}") -> str:
    """An OCI image of these layers; its digest."""
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {**push_blob(registry, repository, config),
                           "mediaType": "application/vnd.oci.image.config.v1+json"},
                "layers": [push_blob(registry, repository, layer) for layer in layers]}
    body = json.dumps(manifest).encode()
    result = registry.manifests.put(repository, tag, body, OCI_MANIFEST)
    return str(result.digest)


def stored_keys(registry) -> set[str]:
    return {obj.key for obj in registry.driver.walk()}
