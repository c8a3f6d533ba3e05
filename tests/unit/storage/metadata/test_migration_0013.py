"""Revision 0013 over a database with registries: those that created repositories on push
(the createOnPush setting, on unless turned off) get a ROOT CREATE_ON_PUSH template, so they
go on doing so; the setting itself goes, other settings stay."""
import json

from sqlalchemy import text

from berth.registry.repositories.templates import CREATE_ON_PUSH, ROOT, TemplateService
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


def test_registries_that_created_on_push_go_on_doing_so(database_url):
    db = Database(database_url)
    try:
        migrate.upgrade(db, "0012")
        with db.engine.begin() as conn:
            for n, settings in ((1, None), (2, {"createOnPush": True}),
                                (3, {"createOnPush": False,
                                     "accountSettings": {"BLOB_MOUNTING": "ENABLED"}})):
                conn.execute(text("INSERT INTO accounts (id, name, is_admin, created_at) "
                                  "VALUES (:id, :name, false, 1.0)"),
                             {"id": f"{n:012d}", "name": f"a{n}"})
                conn.execute(text("INSERT INTO registries (id, account_id, region, created_at, "
                                  "settings) VALUES (:n, :account, 'us-east-1', 1.0, :s)"),
                             {"n": n, "account": f"{n:012d}",
                              "s": None if settings is None else json.dumps(settings)})
        migrate.upgrade(db)
        for registry_id, expected in ((1, [ROOT]), (2, [ROOT]), (3, [])):
            found = TemplateService(db, registry_id).describe()
            assert [t.prefix for t in found] == expected
            assert all(t.applied_for == (CREATE_ON_PUSH,) for t in found)
        with db.engine.connect() as conn:
            settings = dict(conn.execute(text("SELECT id, settings FROM registries")).all())
        assert settings[1] is None and settings[2] is None
        assert json.loads(settings[3]) == {"accountSettings": {"BLOB_MOUNTING": "ENABLED"}}
    finally:
        db.dispose()
