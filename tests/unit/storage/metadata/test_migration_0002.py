"""Revision 0002 over a database with data: repositories (and everything that hangs off them)
and uploads survive, scoped to registry 0 until the start-up bootstrap adopts them."""
import json

import pytest
import sqlalchemy as sa
from sqlalchemy import exc, text

from berth.config import Settings
from berth.iam.wiring import open_iam
from berth.storage.metadata import migrate
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.database import Database

LAYER = "sha256:" + "1" * 64
CONFIG = "sha256:" + "2" * 64
MANIFEST = "sha256:" + "3" * 64
OTHER_MANIFEST = "sha256:" + "4" * 64
CHILDREN = ("repository_blobs", "manifests", "manifest_references", "tags")


@pytest.fixture
def old_db(database_url):
    """A database at revision 0001 holding two repositories with blobs, manifests, references
    and tags, and an upload in progress."""
    db = Database(database_url)
    migrate.upgrade(db, "0001")
    assert migrate.current_revision(db) == "0001"
    with db.engine.begin() as conn:
        run = conn.execute
        run(text("INSERT INTO repositories (name, created_at) VALUES "
                 "('team/lib', 2.0), ('team/app', 1.0)"))
        ids = dict(run(text("SELECT name, id FROM repositories")).all())
        app, lib = ids["team/app"], ids["team/lib"]
        run(text("INSERT INTO blobs (digest, size, created_at) VALUES "
                 "(:l, 100, 1.0), (:c, 20, 1.0)"), {"l": LAYER, "c": CONFIG})
        for repo in (app, lib):
            run(text("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES "
                     "(:r, :l, 1.0), (:r, :c, 1.0)"), {"r": repo, "l": LAYER, "c": CONFIG})
        run(text("INSERT INTO manifests (repository_id, digest, media_type, config_digest, "
                 "config_media_type, size, total_size, annotations, content, pushed_at) VALUES "
                 "(:r, :d, 'application/vnd.oci.image.manifest.v1+json', :c, "
                 "'application/vnd.oci.image.config.v1+json', 300, 420, :a, :content, 3.0)"),
            [{"r": app, "d": MANIFEST, "c": CONFIG, "a": json.dumps({"k": "v"}),
              "content": b"{\"manifest\": 1}"},
             {"r": lib, "d": OTHER_MANIFEST, "c": CONFIG, "a": None, "content": b"{}"}])
        run(text("INSERT INTO manifest_references (repository_id, parent_digest, child_digest, "
                 "kind) VALUES (:a, :m, :l, 'blob'), (:a, :m, :c, 'blob'), "
                 "(:b, :o, :c, 'blob')"), {"m": MANIFEST, "o": OTHER_MANIFEST, "l": LAYER,
                                           "c": CONFIG, "a": app, "b": lib})
        run(text("INSERT INTO tags (repository_id, name, digest, updated_at) VALUES "
                 "(:a, 'latest', :m, 4.0), (:a, 'v1', :m, 4.0), (:b, 'main', :o, 5.0)"),
            {"m": MANIFEST, "o": OTHER_MANIFEST, "a": app, "b": lib})
        run(text("INSERT INTO uploads (id, repository, size, driver_state, created_at, "
                 "updated_at) VALUES ('u-1', 'team/app', 5, '{}', 1.0, 2.0)"))
    yield db
    db.dispose()


# The columns of revision 0001 (0006 adds key refs and garbage-collection times to blobs,
# 0010 the archive state of manifests).
_COLUMNS = {"blobs": "digest, size, created_at",
            "repository_blobs": "repository_id, digest, created_at",
            "manifests": "repository_id, digest, media_type, artifact_type, subject_digest, "
                         "config_digest, config_media_type, size, total_size, annotations, "
                         "content, pushed_at, last_pulled_at"}


def _snapshot(db: Database) -> dict:
    with db.engine.connect() as conn:
        return {table: sorted(tuple(row) for row in conn.execute(text(
                    f"SELECT {_COLUMNS.get(table, '*')} FROM {table}")))
                for table in ("blobs", *CHILDREN)}


def _rows(db: Database, sql: str, **params) -> list:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def _ids(db: Database) -> tuple[int, int]:
    """The ids of team/app and team/lib."""
    ids = dict(_rows(db, "SELECT name, id FROM repositories"))
    return ids["team/app"], ids["team/lib"]


@pytest.mark.parametrize("target", ["0002", "head"])
def test_upgrade_keeps_every_row(old_db, target):
    app, lib = _ids(old_db)
    before = _snapshot(old_db)
    assert all(before[t] for t in before)
    migrate.upgrade(old_db, target)
    assert migrate.current_revision(old_db) == (
        "0002" if target == "0002" else migrate.head_revision(old_db))
    assert _snapshot(old_db) == before
    assert _rows(old_db, "SELECT id, name, created_at, registry_id, policy FROM repositories "
                         "ORDER BY name") == [(app, "team/app", 1.0, 0, None),
                                              (lib, "team/lib", 2.0, 0, None)]
    assert _rows(old_db, "SELECT id, repository, registry_id FROM uploads") == [
        ("u-1", "team/app", 0)]
    if old_db.is_sqlite:
        assert _rows(old_db, "PRAGMA foreign_key_check") == []


def test_foreign_keys_still_cascade_after_the_upgrade(old_db):
    """The rebuilt repositories table is still the one its children reference."""
    migrate.upgrade(old_db)
    app, lib = _ids(old_db)
    with old_db.write() as tx:
        tx.execute(sa.delete(sa.table("repositories", sa.column("id"))).where(
            sa.column("id") == sa.bindparam("id")), {"id": app})
    after = _snapshot(old_db)
    for table in CHILDREN:
        assert all(row[0] == lib for row in after[table]), table
        assert after[table], table


def test_bootstrap_adopts_old_repositories_into_the_default_registry(old_db, tmp_path,
                                                                    database_url):
    migrate.upgrade(old_db)
    app, lib = _ids(old_db)
    iam = open_iam(Settings(data_dir=tmp_path / "data", database=database_url), old_db)
    default = iam.registry_id(iam.tenancy.default)
    assert default != 0
    assert _rows(old_db, "SELECT id, registry_id FROM repositories ORDER BY name") == [
        (app, default), (lib, default)]
    assert _rows(old_db, "SELECT registry_id FROM uploads") == [(default,)]
    with old_db.read() as tx:
        assert repository_rows.get_id(tx, default, "team/app") == app
        assert repository_rows.get_id(tx, 0, "team/app") is None
    # A second start has nothing left to adopt and changes nothing.
    open_iam(Settings(data_dir=tmp_path / "data", database=database_url), old_db)
    assert _rows(old_db, "SELECT id, registry_id FROM repositories ORDER BY name") == [
        (app, default), (lib, default)]


def test_names_are_unique_per_registry(old_db, tmp_path, database_url):
    migrate.upgrade(old_db)
    app, _ = _ids(old_db)
    iam = open_iam(Settings(data_dir=tmp_path / "data", database=database_url), old_db)
    default = iam.registry_id(iam.tenancy.default)
    other = iam.registry_id(type(iam.tenancy.default)(iam.tenancy.default.account_id,
                                                      "eu-west-1"))
    with old_db.write() as tx:
        elsewhere = repository_rows.ensure(tx, other, "team/app")
        assert repository_rows.ensure(tx, default, "team/app") == app
    assert elsewhere != app
    assert sorted(_rows(old_db, "SELECT registry_id, name FROM repositories "
                                "WHERE name = 'team/app'")) == sorted(
        [(default, "team/app"), (other, "team/app")])
    with pytest.raises(exc.IntegrityError):
        with old_db.engine.begin() as conn:
            conn.execute(text("INSERT INTO repositories (registry_id, name, created_at) "
                              "VALUES (:r, 'team/app', 9.0)"), {"r": default})
    assert len(_rows(old_db, "SELECT id FROM repositories WHERE name = 'team/app'")) == 2


def test_upgrade_of_an_empty_database_at_0001(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0001")
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
        assert _rows(db, "SELECT COUNT(*) FROM repositories") == [(0,)]
    finally:
        db.dispose()
