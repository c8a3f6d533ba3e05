"""A real server's whole log, in JSON, after pushes and pulls with HTTP Basic (a registry
token), ECR calls signed by boto3 (SigV4), a presigned GetDownloadUrlForLayer URL and an
admin API call: every line is one JSON object (the workers' and uvicorn's too), each request
has its access line with its request id, and no line quotes a credential: not the token, the
secret access key, an Authorization header, a signature or a presigned URL's query string."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key, basic
from tests.support.oci_push import digest_of, push_image
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

CONFIG, LAYER = b'{"architecture":"amd64","os":"linux"}', b"request log layer"
MANIFEST_ROUTE = "/v2/{name:path}/manifests/{reference}"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    # Two workers: spawned processes rebuild their settings (and log format) from the env.
    node = BerthNode(tmp_path_factory.mktemp("request-logs"), ("--workers", "2"),
                     env={"BERTH_LOG_FORMAT": "json"}).start()
    try:
        yield node
    finally:
        node.stop()


def _lines(node: BerthNode) -> list[dict]:
    text = node.daemon.log_path.read_text()
    lines = []
    for raw in text.splitlines():
        if raw.startswith("$ "):  # the test harness's own header: the command line
            continue
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pytest.fail(f"not a JSON line: {raw!r}")
    return lines


def _access(node: BerthNode, request_id: str) -> dict:
    """The access line of ``request_id`` (written just after its response)."""
    found: list[dict] = []

    def logged() -> bool:
        found[:] = [line for line in _lines(node) if line["logger"] == "berth.access"
                    and line["request_id"] == request_id]
        return bool(found)
    assert wait_until(logged, 10), f"no access line for {request_id}"
    [line] = found
    return line


def _ecr(node: BerthNode, sent: list[str]):
    key = admin_key(node.data_dir)
    client = boto3.session.Session().client(
        "ecr", endpoint_url=node.url, region_name="us-east-1", aws_access_key_id=key.id,
        aws_secret_access_key=key.secret, config=Config(retries={"max_attempts": 1}))

    def keep(request, **_):
        sent.append(request.headers["Authorization"].decode()
                    if isinstance(request.headers["Authorization"], bytes)
                    else request.headers["Authorization"])
    client.meta.events.register("before-send.ecr.*", keep)
    return client, key


def test_a_full_run_logs_json_with_request_ids_and_no_credential(node: BerthNode):
    secrets: list[str] = [node.token, basic(node.token).split()[1]]
    session = node.session()
    push_image(session, node.url, "logs/web", "v1", CONFIG, [LAYER])
    pulled = session.get(f"{node.url}/v2/logs/web/manifests/v1?token={node.token}",
                         headers={"X-Request-Id": "pull-manifest-1",
                                  "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert pulled.status_code == 200 and pulled.headers["x-request-id"] == "pull-manifest-1"

    sent: list[str] = []
    ecr, key = _ecr(node, sent)
    secrets.append(key.secret)
    login = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    secrets.append(login)
    images = ecr.describe_images(repositoryName="logs/web")
    url = ecr.get_download_url_for_layer(repositoryName="logs/web",
                                         layerDigest=digest_of(LAYER))["downloadUrl"]
    query = urlsplit(url).query
    secrets += [query, *[v[0] for v in parse_qs(query).values() if len(v[0]) >= 16]]
    layer = requests.get(url, timeout=30)
    assert layer.status_code == 200 and layer.content == LAYER
    admin = _admin_call(node, key, "ListAccounts")
    assert admin.status_code == 200, admin.text
    secrets += sent + [s.split("Signature=")[1] for s in sent]
    secrets.append(admin.request.headers["Authorization"])

    manifest = _access(node, "pull-manifest-1")
    assert manifest["route"] == MANIFEST_ROUTE and manifest["repository"] == "logs/web"
    assert manifest["status"] == 200 and manifest["bytes_out"] == len(pulled.content)
    assert manifest["principal_arn"].endswith(":root") and manifest["source_ip"] == "127.0.0.1"
    described = _access(node, images["ResponseMetadata"]["RequestId"])
    assert (described["route"], described["protocol"]) == ("DescribeImages", "ecr")
    assert described["principal_arn"] == manifest["principal_arn"]
    presigned = _access(node, layer.headers["x-request-id"])
    assert presigned["route"] == "/v2/{name:path}/blobs/{digest}"
    assert presigned["bytes_out"] == len(LAYER)
    assert _access(node, admin.headers["x-amzn-requestid"])["route"] == "ListAccounts"

    lines = _lines(node)
    assert {"uvicorn.error", "berth.access", "berth"} <= {line["logger"] for line in lines}
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line)
               for line in lines)
    text = node.daemon.log_path.read_text()
    assert not [s for s in secrets if s and s in text]
    assert "?token=" not in text and "X-Amz-Signature" not in text


def _admin_call(node: BerthNode, key, operation: str) -> requests.Response:
    data = b"{}"
    request = AWSRequest("POST", node.url + "/admin", data=data, headers={
        "X-Amz-Target": "BerthAdmin_20261122." + operation,
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(key.id, key.secret), "berth", "us-east-1").add_auth(request)
    return requests.post(node.url + "/admin", data=data, headers=dict(request.headers),
                         timeout=30)
