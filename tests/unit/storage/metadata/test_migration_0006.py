"""Revision 0006 over a database with data: blob rows become stored objects keyed by (key
ref, digest), one per pair some repository links; blob links keep their times and take their
size from the old blob row, unreferenced since the upgrade unless a manifest of their own
repository lists them; the outbox tables start empty."""
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database

SHARED = "sha256:" + "1" * 64      # linked by every repository, two key refs
ENC_ONLY = "sha256:" + "2" * 64    # linked by team/enc only, listed by its manifest
ENC_LOOSE = "sha256:" + "3" * 64   # linked by team/enc only, listed by no manifest
PLAIN_ONLY = "sha256:" + "4" * 64  # linked by team/plain only, listed by its manifest
UNLINKED = "sha256:" + "5" * 64    # a blob row no repository links
MANIFEST = "sha256:" + "a" * 64
PLAIN_MANIFEST = "sha256:" + "b" * 64
INDEX = "sha256:" + "c" * 64

SIZES = {SHARED: 100, ENC_ONLY: 200, ENC_LOOSE: 300, PLAIN_ONLY: 400, UNLINKED: 500}
BLOB_CREATED = {SHARED: 1.0, ENC_ONLY: 2.0, ENC_LOOSE: 3.0, PLAIN_ONLY: 4.0, UNLINKED: 5.0}
# (repository, digest) -> the link's created_at
LINKS = {("team/enc", SHARED): 10.0, ("team/enc", ENC_ONLY): 11.0,
         ("team/enc", ENC_LOOSE): 12.0,
         ("team/plain", SHARED): 20.0, ("team/plain", PLAIN_ONLY): 21.0,
         ("other/enc", SHARED): 30.0}
KEY_REFS = {"team/enc": "aes256", "team/plain": "", "other/enc": "aes256"}
# Links that a manifest of the same repository lists (kind 'blob'). other/enc's SHARED is
# listed only by team/enc's manifest; team/plain's SHARED by none.
LISTED = {("team/enc", SHARED), ("team/enc", ENC_ONLY), ("team/plain", PLAIN_ONLY)}


def _rows(db: Database, sql: str, **params) -> list:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


@pytest.fixture
def old_db(database_url):
    """A database at revision 0005: three repositories (key refs "aes256", "" and "aes256")
    linking blobs, one blob row nothing links, manifests listing some links and not others."""
    db = Database(database_url)
    migrate.upgrade(db, "0005")
    assert migrate.current_revision(db) == "0005"
    with db.engine.begin() as conn:
        run = conn.execute
        for name, key_ref in KEY_REFS.items():
            run(text("INSERT INTO repositories (registry_id, name, created_at, key_ref) "
                     "VALUES (1, :n, 1.0, :k)"), {"n": name, "k": key_ref})
        ids = dict(run(text("SELECT name, id FROM repositories")).all())
        run(text("INSERT INTO blobs (digest, size, created_at) VALUES (:d, :s, :c)"),
            [{"d": d, "s": SIZES[d], "c": BLOB_CREATED[d]} for d in SIZES])
        run(text("INSERT INTO repository_blobs (repository_id, digest, created_at) "
                 "VALUES (:r, :d, :c)"),
            [{"r": ids[name], "d": d, "c": c} for (name, d), c in LINKS.items()])
        run(text("INSERT INTO manifests (repository_id, digest, media_type, config_digest, "
                 "config_media_type, size, total_size, content, pushed_at) VALUES "
                 "(:r, :d, 'application/vnd.oci.image.manifest.v1+json', :c, "
                 "'application/vnd.oci.image.config.v1+json', 10, 10, :content, 3.0)"),
            [{"r": ids["team/enc"], "d": MANIFEST, "c": ENC_ONLY, "content": b"{}"},
             {"r": ids["team/plain"], "d": PLAIN_MANIFEST, "c": PLAIN_ONLY,
              "content": b"{}"}])
        run(text("INSERT INTO manifests (repository_id, digest, media_type, size, total_size, "
                 "content, pushed_at) VALUES (:r, :d, "
                 "'application/vnd.oci.image.index.v1+json', 10, 10, :content, 3.0)"),
            {"r": ids["team/plain"], "d": INDEX, "content": b"{}"})
        run(text("INSERT INTO manifest_references (repository_id, parent_digest, child_digest, "
                 "kind) VALUES (:r, :p, :c, :k)"),
            [{"r": ids["team/enc"], "p": MANIFEST, "c": SHARED, "k": "blob"},
             {"r": ids["team/enc"], "p": MANIFEST, "c": ENC_ONLY, "k": "blob"},
             {"r": ids["team/plain"], "p": PLAIN_MANIFEST, "c": PLAIN_ONLY, "k": "blob"},
             {"r": ids["team/plain"], "p": INDEX, "c": PLAIN_MANIFEST, "k": "manifest"}])
    yield db
    db.dispose()


def _ids(db: Database) -> dict[str, int]:
    return dict(_rows(db, "SELECT name, id FROM repositories"))


def _upgrade(db: Database) -> tuple[float, float]:
    before = time.time()
    migrate.upgrade(db, "0006")
    after = time.time()
    assert migrate.current_revision(db) == "0006"
    return before, after


def test_links_keep_their_times_and_take_the_blob_size(old_db):
    before, after = _upgrade(old_db)
    names = {i: name for name, i in _ids(old_db).items()}
    found = {(names[r], d): (size, created, since) for r, d, size, created, since in _rows(
        old_db, "SELECT repository_id, digest, size, created_at, unreferenced_since "
                "FROM repository_blobs")}
    assert set(found) == set(LINKS), "every link is kept, and no other appears"
    for link, (size, created, since) in found.items():
        assert size == SIZES[link[1]], f"{link}: size from the old blobs row"
        assert created == LINKS[link], f"{link}: its own created_at is kept"
        if link in LISTED:
            assert since is None, f"{link} is listed by a manifest of its repository"
        else:
            assert since is not None and before - 1 <= since <= after + 1, (
                f"{link} is listed by no manifest of its repository: unreferenced since "
                f"the upgrade, got {since!r} (upgrade ran {before}..{after})")


def test_objects_are_the_linked_key_ref_and_digest_pairs(old_db):
    _upgrade(old_db)
    objects = sorted(_rows(old_db, "SELECT key_ref, digest, size, created_at, "
                                   "unreferenced_since FROM blobs"))
    expected = sorted({(KEY_REFS[name], digest) for name, digest in LINKS})
    # SHARED is linked under "aes256" twice (one object) and under "" once (another).
    assert [(ref, digest) for ref, digest, *_ in objects] == expected
    assert ("aes256", SHARED) in expected and ("", SHARED) in expected
    assert len(expected) == 5
    for key_ref, digest, size, created, since in objects:
        assert size == SIZES[digest], (key_ref, digest)
        assert created == BLOB_CREATED[digest], (key_ref, digest)
        assert since is None, f"({key_ref!r}, {digest}) is linked: not unreferenced"
    assert UNLINKED not in {digest for _, digest, *_ in objects}, "unlinked blob row dropped"


def test_the_outbox_tables_exist_and_are_empty(old_db):
    _upgrade(old_db)
    for table in ("events", "event_cursors"):
        assert _rows(old_db, f"SELECT count(*) FROM {table}") == [(0,)], table
    columns = {t: {c["name"] for c in sa.inspect(old_db.engine).get_columns(t)}
               for t in ("events", "event_cursors", "blobs", "repository_blobs")}
    assert columns["events"] == {"id", "kind", "registry_id", "repository", "payload",
                                 "created_at"}
    assert columns["event_cursors"] == {"subscriber", "position", "updated_at"}
    assert columns["blobs"] == {"key_ref", "digest", "size", "created_at",
                                "unreferenced_since"}
    assert columns["repository_blobs"] == {"repository_id", "digest", "size", "created_at",
                                           "unreferenced_since"}


def test_links_reference_repositories_only_and_still_cascade(old_db):
    _upgrade(old_db)
    inspector = sa.inspect(old_db.engine)
    fks = inspector.get_foreign_keys("repository_blobs")
    assert [(fk["referred_table"], fk["constrained_columns"]) for fk in fks] == [
        ("repositories", ["repository_id"])], fks
    assert "ix_repository_blobs_digest" in {
        ix["name"] for ix in inspector.get_indexes("repository_blobs")}
    if old_db.is_sqlite:
        assert _rows(old_db, "PRAGMA foreign_key_check") == []
    ids = _ids(old_db)
    with old_db.write() as tx:
        tx.execute(sa.delete(sa.table("repositories", sa.column("id"))).where(
            sa.column("id") == sa.bindparam("id")), {"id": ids["team/enc"]})
    left = _rows(old_db, "SELECT repository_id, digest FROM repository_blobs")
    assert sorted(left) == sorted((ids[name], d) for name, d in LINKS if name != "team/enc")
    for table in ("manifests", "manifest_references"):
        assert ids["team/enc"] not in {r for (r,) in _rows(
            old_db, f"SELECT repository_id FROM {table}")}, table
    # Objects are not children of repositories: garbage collection frees them later.
    assert len(_rows(old_db, "SELECT digest FROM blobs")) == 5
    if old_db.is_sqlite:
        assert _rows(old_db, "PRAGMA foreign_key_check") == []


def test_event_ids_are_never_reused(old_db):
    _upgrade(old_db)

    def insert(conn) -> int:
        conn.execute(text("INSERT INTO events (kind, registry_id, repository, payload, "
                          "created_at) VALUES ('test', 1, 'team/enc', '{}', 1.0)"))
        return conn.execute(text("SELECT max(id) FROM events")).scalar()

    with old_db.engine.begin() as conn:
        first, second = insert(conn), insert(conn)
    assert second > first
    with old_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE id = :i"), {"i": second})
    with old_db.engine.begin() as conn:
        third = insert(conn)
    assert third > second, f"event id {second} was reused after it was deleted: got {third}"
    with old_db.engine.begin() as conn:  # even with the outbox emptied
        conn.execute(text("DELETE FROM events"))
    with old_db.engine.begin() as conn:
        fourth = insert(conn)
    assert fourth > third, f"event id reused after the outbox was emptied: {fourth}"


def test_upgrade_of_an_empty_database_at_0005(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0005")
        _upgrade(db)
        for table in ("blobs", "repository_blobs", "events", "event_cursors"):
            assert _rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    finally:
        db.dispose()
