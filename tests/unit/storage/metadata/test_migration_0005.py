"""Revision 0005 over a database with data: repositories and uploads from before encryption
at rest get the key ref "" (their blobs were stored plain and stay so); the key tables start
empty."""
from sqlalchemy import text

from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


def test_existing_rows_stay_plain(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0004")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO repositories (registry_id, name, created_at) "
                              "VALUES (1, 'team/app', 1.0)"))
            conn.execute(text("INSERT INTO uploads (id, registry_id, repository, size, "
                              "driver_state, created_at, updated_at) VALUES "
                              "('u-1', 1, 'team/app', 5, '{}', 1.0, 2.0)"))
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name, key_ref FROM repositories")).all() == [
                ("team/app", "")]
            assert conn.execute(text("SELECT id, key_ref FROM uploads")).all() == [("u-1", "")]
            for table in ("encryption_keys", "encryption_key_versions"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        db.dispose()
