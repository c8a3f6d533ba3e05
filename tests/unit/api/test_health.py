import shutil

from starlette.testclient import TestClient

from berth.app import create_app
from berth.config import Settings
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


def _app(tmp_path):
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    db.dispose()
    return create_app(settings, run_jobs=False)


def test_healthz_and_readyz(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        assert client.get("/healthz").text == "ok"
        assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_storage_is_gone(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        shutil.rmtree(tmp_path / "blobs")
        resp = client.get("/readyz")
        assert resp.status_code == 503 and "storage" in resp.text
        assert client.get("/healthz").status_code == 200
