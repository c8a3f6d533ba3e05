"""Repository ids are never given twice (revision 0021 rebuilds SQLite's table with
AUTOINCREMENT): an outbox event of a deleted repository names an id no later repository gets.
Over a database with data every row of every table stays, and deleting a repository still
cascades to what hangs off it."""
import json

import pytest
from sqlalchemy import inspect, text

from berth.registry.registry import Registry
from berth.registry.repositories.settings import RepositorySettings
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import migrate
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.database import Database

LAYER = "sha256:" + "1" * 64
MANIFEST = "sha256:" + "3" * 64


def _rows(db: Database, sql: str, **params) -> list:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def test_a_deleted_repositorys_id_is_not_given_to_the_next(db, tmp_path):
    registry = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 * 1024 * 1024,
                               registry_id=1)
    service = registry.repository_settings
    service.create("team/a", RepositorySettings())
    with db.read() as tx:
        first = repository_rows.get_id(tx, 1, "team/a")
    service.delete("team/a")
    service.create("team/b", RepositorySettings())
    with db.read() as tx:
        second = repository_rows.get_id(tx, 1, "team/b")
    assert second > first


@pytest.fixture
def old_db(database_url):
    """A database at revision 0020: repositories app and lib with tags, links, manifests,
    references, resource tags and a lifecycle policy; a third, gone, deleted after its id
    (the highest) went into an event still in the outbox."""
    db = Database(database_url)
    migrate.upgrade(db, "0020")
    with db.engine.begin() as conn:
        run = conn.execute
        run(text("INSERT INTO repositories (registry_id, name, created_at, key_ref) VALUES "
                 "(1, 'team/app', 1.0, 'aes256'), (1, 'team/lib', 2.0, ''), "
                 "(1, 'team/gone', 3.0, '')"))
        ids = dict(run(text("SELECT name, id FROM repositories")).all())
        run(text("DELETE FROM repositories WHERE name = 'team/gone'"))
        run(text("INSERT INTO events (kind, registry_id, repository, payload, created_at) "
                 "VALUES ('repository.deleted', 1, 'team/gone', :p, 3.5)"),
            {"p": json.dumps({"repositoryId": ids["team/gone"], "keyRef": ""})})
        for repo in (ids["team/app"], ids["team/lib"]):
            _children(run, repo)
    yield db
    db.dispose()


def _children(run, repo: int) -> None:
    params = {"r": repo, "l": LAYER, "m": MANIFEST}
    run(text("INSERT INTO repository_blobs (repository_id, digest, size, created_at) "
             "VALUES (:r, :l, 10, 1.0)"), params)
    run(text("INSERT INTO manifests (repository_id, digest, media_type, size, total_size, "
             "content, pushed_at) VALUES (:r, :m, 'application/vnd.oci.image.manifest.v1+json', "
             "2, 12, :c, 1.0)"), {**params, "c": b"{}"})
    run(text("INSERT INTO manifest_references (repository_id, parent_digest, child_digest, "
             "kind) VALUES (:r, :m, :l, 'blob')"), params)
    run(text("INSERT INTO tags (repository_id, name, digest, updated_at) VALUES "
             "(:r, 'v1', :m, 1.0), (:r, 'latest', :m, 1.0)"), params)
    run(text("INSERT INTO repository_tags (repository_id, \"key\", value) VALUES "
             "(:r, 'team', 'x')"), params)
    run(text("INSERT INTO lifecycle_policies (repository_id, text, updated_at) VALUES "
             "(:r, '{}', 1.0)"), params)


def _children_of_repositories(db: Database) -> list[str]:
    inspector = inspect(db.engine)
    return sorted(name for name in inspector.get_table_names()
                  if any(fk["referred_table"] == "repositories"
                         for fk in inspector.get_foreign_keys(name)))


def _snapshot(db: Database, tables: list[str]) -> dict:
    return {name: sorted(_rows(db, f"SELECT * FROM {name}"), key=repr) for name in tables}


def test_the_upgrade_keeps_every_row_and_the_cascade(old_db):
    tables = sorted(set(inspect(old_db.engine).get_table_names()) - {"alembic_version"})
    before = _snapshot(old_db, tables)
    children = _children_of_repositories(old_db)
    assert {"manifests", "tags", "repository_blobs", "repository_tags"} <= set(children)
    migrate.upgrade(old_db)
    assert migrate.current_revision(old_db) == migrate.head_revision(old_db)
    assert _snapshot(old_db, tables) == before
    assert _children_of_repositories(old_db) == children
    if old_db.is_sqlite:
        assert _rows(old_db, "PRAGMA foreign_key_check") == []
    app, lib = (dict(_rows(old_db, "SELECT name, id FROM repositories"))[name]
                for name in ("team/app", "team/lib"))
    with old_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM repositories WHERE id = :id"), {"id": app})
    for table in children:
        kept = {row[0] for row in _rows(old_db, f"SELECT repository_id FROM {table}")}
        assert kept <= {lib}, table
    for table in ("manifests", "tags", "repository_blobs", "manifest_references"):
        assert _rows(old_db, f"SELECT count(*) FROM {table}")[0][0] > 0, table


def test_the_next_id_is_past_every_id_in_use_or_in_the_outbox(old_db):
    migrate.upgrade(old_db)
    [(gone,)] = _rows(old_db, "SELECT json_extract(payload, '$.repositoryId') FROM events"
                      if old_db.is_sqlite else
                      "SELECT CAST(payload AS json)->>'repositoryId' FROM events")
    with old_db.write() as tx:
        new = repository_rows.ensure(tx, 1, "team/new")
    assert new > int(gone)
    if old_db.is_sqlite:
        [(ddl,)] = _rows(old_db, "SELECT sql FROM sqlite_master WHERE name = 'repositories'")
        assert "AUTOINCREMENT" in ddl


def test_an_empty_database_starts_its_ids_at_one(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db)
        with db.write() as tx:
            assert repository_rows.ensure(tx, 1, "first") == 1
    finally:
        db.dispose()
