"""Revision 0025: daily storage samples gain the repository's tags of the day (JSON, NULL in
the rows sampled before), every sample row staying as it was."""
from sqlalchemy import text

from berth.storage.metadata import migrate, usage_daily
from berth.storage.metadata.database import Database

SAMPLES = [("2026-11-01", "team/app", "standard", 1000),
           ("2026-11-01", "team/app", "archive", 50),
           ("2026-11-02", "team/lib", "standard", 0)]


def test_samples_gain_nullable_tags_and_keep_their_rows(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0024")
        with db.engine.begin() as conn:
            for day, name, storage_class, size in SAMPLES:
                conn.execute(text(
                    "INSERT INTO usage_storage_daily (day, account_id, region, repository,"
                    " storage_class, bytes, objects, sampled_at) VALUES (:day, '111122223333',"
                    " 'us-east-1', :name, :class, :size, 1, 1.0)"),
                    {"day": day, "name": name, "class": storage_class, "size": size})
        migrate.upgrade(db)
        with db.read() as tx:
            found = usage_daily.samples(tx, "2026-11-01", "2026-11-30")
        assert sorted((r.day, r.repository, r.storage_class, int(r.bytes), r.tags)
                      for r in found) == sorted((*row, None) for row in SAMPLES)

        with db.write() as tx:  # a sample taken again keeps the day's tags
            usage_daily.put_samples(tx, [{
                "day": "2026-11-02", "account_id": "111122223333", "region": "us-east-1",
                "repository": "team/lib", "storage_class": "standard", "bytes": 7,
                "objects": 1, "sampled_at": 2.0, "tags": '{"team":"data"}'}])
        with db.read() as tx:
            [row] = usage_daily.samples(tx, "2026-11-02", "2026-11-02")
        assert (int(row.bytes), row.tags) == (7, '{"team":"data"}')
    finally:
        db.dispose()
