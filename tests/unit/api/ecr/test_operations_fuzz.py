"""Every served ECR operation, fed any request its input shape allows (hypothesis draws them from
botocore's model), signed by the administrator: never a 500, always a JSON 1.1 answer. Half of
the draws aim at a repository that exists, so the handlers' real paths run, not only the
not-found ones."""
from __future__ import annotations

import base64
import json
import warnings
from datetime import datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.api.ecr import model
from berth.api.ecr.routes import OPERATIONS
from berth.app import create_app
from berth.config import Settings
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.credentials import admin_key, basic
from tests.support.oci_push import push_image

from .support import instances

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPO = "fuzz/app"
TARGET = "AmazonEC2ContainerRegistry_V20150921."


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ecr-fuzz")
    settings_ = Settings(data_dir=data_dir)
    db = Database(settings_.database_url)
    migrate.upgrade(db)
    db.dispose()
    app = create_app(settings_, run_jobs=False)
    key = admin_key(data_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        token, _ = app.app.state.iam.tokens.mint(key.id)
        client.headers["Authorization"] = basic(token)
        push_image(client, "", REPO, "v1", b'{"os":"linux"}', [b"fuzz layer"])
        del client.headers["Authorization"]
        yield client, key


def _wire(value):
    """JSON as botocore sends it: blobs base64-encoded, datetimes as epoch seconds."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _call(client, key, operation: str, params: dict):
    body = json.dumps(_wire(params)).encode()
    request = AWSRequest("POST", "http://testserver/", data=body, headers={
        "X-Amz-Target": TARGET + operation, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(key.id, key.secret), "ecr", "us-east-1").add_auth(request)
    return client.post("/", content=body, headers=dict(request.headers.items()))


def _request(operation: str) -> st.SearchStrategy:
    shape = model.operation_model(operation).input_shape
    draw = instances(shape) if shape is not None else st.just({})
    aimed = st.booleans()

    def aim(params, at_existing):
        if at_existing and shape is not None and "repositoryName" in shape.members:
            params = {**params, "repositoryName": REPO}
            params.pop("registryId", None)
        return params

    return st.builds(aim, draw, aimed)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_request_makes_a_500(served, operation):
    client, key = served

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(params=_request(operation))
    def check(params):
        resp = _call(client, key, operation, params)
        assert resp.status_code < 500, f"{operation} {params!r} -> {resp.text[:300]}"
        assert resp.headers["content-type"].startswith("application/x-amz-json-1.1")
        body = resp.json()
        if resp.status_code != 200:
            assert set(body) == {"__type", "message"}, body

    check()
