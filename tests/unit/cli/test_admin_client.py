"""The admin API's client (``berth admin --endpoint-url``) against a served admin API: two
identical calls within one second are two calls, since the server accepts a signed change
once and the client signs an id of its own into each request."""
from __future__ import annotations

from datetime import datetime, timezone
from unittest import mock

import pytest
from starlette.applications import Starlette

from berth.api.admin import admin_route
from berth.cli.admin_client import AdminClient
from berth.config import Settings
from berth.iam.wiring import open_iam
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.unit.api.ecr.test_real_clients import serving


@pytest.fixture
def served(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    app = Starlette(routes=[admin_route()])
    app.state.iam = iam = open_iam(settings, db)
    root = iam.identities.create_access_key(iam.identities.admin_account().id)
    for name, value in {"AWS_ACCESS_KEY_ID": root.id, "AWS_SECRET_ACCESS_KEY": root.secret,
                        "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    try:
        with serving(app) as url:
            yield url, iam
    finally:
        db.dispose()


def test_identical_calls_in_one_second_both_take_effect(served):
    url, iam = served
    account = iam.identities.admin_account().id
    iam.identities.create_user(account, "ci")
    client = AdminClient(url)
    moment = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        made = [client.call("CreateAccessKey", {"AccountId": account, "UserName": "ci"})
                for _ in range(2)]
    ids = {answer["AccessKey"]["AccessKeyId"] for answer in made}
    assert len(ids) == 2
    assert ids == {key.id for key in iam.identities.access_keys(account, "ci")}
