"""An app serving only the admin API over a fresh data directory, and a way to call it as
``berth admin --endpoint-url`` does: JSON 1.1, signed by botocore."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.testclient import TestClient

from berth.api.admin import TARGET_PREFIX, admin_route
from berth.config import Settings
from berth.iam.identities import AccessKey
from berth.iam.wiring import open_iam
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database

URL = "http://testserver/admin"
ALLOW_ALL_IAM = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:*", "organizations:*"], "Resource": "*"}]})


@dataclass
class Admin:
    client: TestClient
    iam: object

    def call(self, key: AccessKey | None, operation: str, params: object = None, *,
             secret: str | None = None, target: str | None = None, raw: bytes | None = None,
             service: str = "berth"):
        """POST the operation, signed with ``key`` (``secret`` overrides its secret) for
        ``service``; unsigned when ``key`` is None. ``raw`` replaces the JSON body."""
        body = raw if raw is not None else json.dumps(
            {} if params is None else params).encode()
        # One id per call, signed, as berth admin sends it: two identical calls within one
        # second are two requests, not a replay.
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": target or f"{TARGET_PREFIX}.{operation}",
                   "amz-sdk-invocation-id": str(uuid.uuid4())}
        if key is not None:
            request = AWSRequest(method="POST", url=URL, data=body, headers=headers)
            credentials = Credentials(key.id, secret or key.secret)
            SigV4Auth(credentials, service, "us-east-1").add_auth(request)
            headers = dict(request.headers.items())
        return self.client.post("/admin", content=body, headers=headers)

    def account(self, name: str):
        return self.iam.identities.create_account(name)

    def root_key(self, account_id: str) -> AccessKey:
        return self.iam.identities.create_access_key(account_id)

    def user_key(self, account_id: str, name: str, policy: str | None = None) -> AccessKey:
        self.iam.identities.create_user(account_id, name)
        if policy is not None:
            self.iam.identities.put_user_policy(account_id, name, "allow", policy)
        return self.iam.identities.create_access_key(account_id, name)


@pytest.fixture
def admin_api(tmp_path):
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    app = Starlette(routes=[admin_route()])
    app.state.iam = open_iam(settings, db)
    with TestClient(app) as client:
        yield Admin(client, app.state.iam)
    db.dispose()


@pytest.fixture
def admin_account(admin_api):
    return admin_api.iam.identities.admin_account()


@pytest.fixture
def admin_root(admin_api, admin_account) -> AccessKey:
    return admin_api.root_key(admin_account.id)
