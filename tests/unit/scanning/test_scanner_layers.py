"""The scanner's stored layer inventories (berth.scanning.scanner), on SQLite and PostgreSQL:
a layer is read once and kept, but a row an older reader made (before a detector was added)
is read again and replaced, so new detectors see layers scanned before them; a row of this
reader or a newer one is kept as it is."""
from __future__ import annotations

import json

import pytest

from berth.registry.registry import Registry
from berth.scanning.images import platforms
from berth.scanning.inventory.layers import READER, LayerInventory
from berth.scanning.scanner import Scanner
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata import repositories as repo_rows
from berth.storage.metadata import scanning as scan_rows
from berth.storage.metadata.database import Database
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create
from tests.support.tarballs import make_tar

LOCK = {"lockfileVersion": 3, "packages": {
    "node_modules/lodash": {"version": "4.17.20"}}}
LAYER = make_tar({"srv/app/package-lock.json": json.dumps(LOCK).encode()})


@pytest.fixture
def registry(database_url, tmp_path):
    db = Database(database_url)
    migrate.upgrade(db)
    reg = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id=1)
    pushes_create(reg.db, reg.registry_id)
    yield reg
    reg.close()


def _scan_packages(registry) -> list[str]:
    """What a fresh scanner (no layers cached in memory) finds in the image."""
    digest = push_image(registry, "team/app", "v1", LAYER)
    with registry.db.read() as tx:
        repo_id = repo_rows.get_id(tx, registry.registry_id, "team/app")
    [platform] = platforms(registry.db, repo_id, str(digest))
    inventory = Scanner(registry).inventory(registry.blobs, "team/app", platform)
    return [p.purl for p in inventory.packages]


def _stored(registry) -> object:
    with registry.db.read() as tx:
        [row] = scan_rows.layers(tx, [_layer_digest()]).values()
    return row


def _layer_digest() -> str:
    from berth.registry.references import Digest
    return str(Digest.of(LAYER))


def _put(registry, reader: int) -> None:
    """A row as a reader numbered ``reader`` left it: nothing found in the layer."""
    with registry.db.write() as tx:
        scan_rows.put_layer(tx, _layer_digest(), 1.0, LayerInventory().dumps(), None, reader)


def test_a_layer_is_read_once_and_its_row_names_this_reader(registry):
    assert _scan_packages(registry) == ["pkg:npm/lodash@4.17.20"]
    row = _stored(registry)
    assert row.reader == READER and row.error is None
    assert _scan_packages(registry) == ["pkg:npm/lodash@4.17.20"]
    assert _stored(registry).created_at == row.created_at  # kept, not read again


def test_an_older_readers_row_is_read_again_and_replaced(registry):
    _put(registry, READER - 1)
    assert _scan_packages(registry) == ["pkg:npm/lodash@4.17.20"]
    assert _stored(registry).reader == READER


@pytest.mark.parametrize("reader", [READER, READER + 1])
def test_a_row_of_this_reader_or_a_newer_one_is_used_as_it_is(registry, reader):
    _put(registry, reader)
    assert _scan_packages(registry) == []
    assert _stored(registry).reader == reader


def test_a_newer_readers_row_is_not_overwritten_by_an_older_node(registry):
    """Two versions of Berth during a rolling upgrade: the newer node's row stands."""
    _put(registry, READER + 1)
    _put(registry, READER)
    row = _stored(registry)
    assert (row.reader, row.created_at) == (READER + 1, 1.0)
