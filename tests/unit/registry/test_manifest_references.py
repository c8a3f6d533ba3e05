"""The number of blobs and manifests a manifest may reference is bounded
(``max_manifest_references``): more is MANIFEST_INVALID, decided before the database is
asked anything (issue 20, item 3)."""
from __future__ import annotations

import json
import time

import pytest

from berth.config import Settings
from berth.registry.errors import ManifestInvalid
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.images.manifests import LayersMissing
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create

LIMIT = 4
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@pytest.fixture
def registry(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024,
                          registry_id=1, max_manifest_references=LIMIT)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()


def _descriptor(data: bytes, media_type: str = LAYER_TYPE) -> dict:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}


def _image(layers: list[bytes], subject: dict | None = None) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": _descriptor(b"{}", CONFIG_TYPE),
           "layers": [_descriptor(layer) for layer in layers]}
    if subject:
        doc["subject"] = subject
    return json.dumps(doc).encode()


def _store(registry, repository: str, *blobs: bytes) -> None:
    for data in blobs:
        registry.uploads.put_small(repository, Digest.of(data), data)


def test_up_to_the_limit_is_accepted_one_more_is_invalid(registry):
    layers = [b"l1", b"l2", b"l3", b"l4"]
    _store(registry, "team/app", b"{}", *layers)
    at_limit = _image(layers[:LIMIT - 1])  # the config and three layers
    assert registry.manifests.put("team/app", "v1", at_limit, OCI_MANIFEST).created
    with pytest.raises(ManifestInvalid) as refused:
        registry.manifests.put("team/app", "v2", _image(layers), OCI_MANIFEST)
    assert f"the limit is {LIMIT}" in refused.value.message
    # The subject is a reference too.
    subject = _descriptor(at_limit, OCI_MANIFEST)
    with pytest.raises(ManifestInvalid):
        registry.manifests.put("team/app", "v3", _image(layers[:LIMIT - 1], subject),
                               OCI_MANIFEST)
    assert registry.manifests.put("team/app", "v3", _image(layers[:LIMIT - 2], subject),
                                  OCI_MANIFEST).created


def test_an_index_over_the_limit_is_invalid(registry):
    children = [_descriptor(f"m{i}".encode(), OCI_MANIFEST) for i in range(LIMIT + 1)]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    with pytest.raises(ManifestInvalid):
        registry.manifests.put("team/app", "idx", body.encode(), OCI_INDEX)
    # At the limit the children are looked up (and found missing).
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": children[:LIMIT]})
    with pytest.raises(LayersMissing):
        registry.manifests.put("team/app", "idx", body.encode(), OCI_INDEX)


def test_a_refusal_asks_the_database_nothing_and_is_quick(registry, monkeypatch):
    """The issue's manifest: ~3.5 MB listing 32,000 missing layers, refused at once."""
    registry.manifests.max_references = 10000
    layers = [{"mediaType": "l", "digest": f"sha256:{i:064x}", "size": 1}
              for i in range(32000)]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": _descriptor(b"{}", CONFIG_TYPE), "layers": layers},
                      separators=(",", ":")).encode()
    assert 3_000_000 < len(body) < 4 * 1024 * 1024

    def no_database(*args, **kwargs):
        raise AssertionError("the database was asked")

    monkeypatch.setattr(registry.db, "write", no_database)
    monkeypatch.setattr(registry.db, "read", no_database)
    started = time.monotonic()
    with pytest.raises(ManifestInvalid):
        registry.manifests.put("team/app", "huge", body, OCI_MANIFEST)
    assert time.monotonic() - started < 1.0


def test_other_registries_keep_the_limit(registry):
    assert registry.scoped(2).manifests.max_references == LIMIT


def test_the_setting_reaches_the_manifest_service(tmp_path):
    from berth.app import open_registry

    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrating = Database(url)
    migrate.upgrade(migrating)
    migrating.dispose()
    reg, _ = open_registry(Settings(data_dir=tmp_path / "data", database=url,
                                    max_manifest_references=77))
    try:
        assert reg.manifests.max_references == 77
        assert reg.scoped(reg.registry_id + 1).manifests.max_references == 77
    finally:
        reg.close()
