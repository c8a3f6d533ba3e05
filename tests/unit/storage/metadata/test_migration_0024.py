"""Revision 0024: the waiting and held rows of the delivery jobs that are now work on demand
(events:*, notifications-deliver) go, since no node claims those kinds any more; finished
ones and other kinds' rows stay."""
from sqlalchemy import text

from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database

ROWS = [("a", "events:gc", "queued"), ("b", "events:notifications", "running"),
        ("c", "notifications-deliver", "queued"), ("d", "events:gc", "done"),
        ("e", "gc-sweep", "queued"), ("f", "replication-lane", "running")]


def test_the_delivery_jobs_left_waiting_or_held_go(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0023")
        with db.engine.begin() as conn:
            for job_id, kind, state in ROWS:
                conn.execute(text(
                    "INSERT INTO jobs (id, kind, payload, state, run_at, attempts, max_attempts,"
                    " created_at) VALUES (:id, :kind, '{}', :state, 1.0, 0, 3, 1.0)"),
                    {"id": job_id, "kind": kind, "state": state})
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            left = sorted(r[0] for r in conn.execute(text("SELECT id FROM jobs")))
        assert left == ["d", "e", "f"]
    finally:
        db.dispose()
