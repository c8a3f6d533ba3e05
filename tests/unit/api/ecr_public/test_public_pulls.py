"""The public registries' OCI side on the public host name (``public.<domain>``): anyone pulls
with no credentials through ECR Public's token flow, at a limited rate; pushes need a token
whose identity may do the ``ecr-public:`` actions."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests

from berth.public.pull_limits import BURST_SECONDS, PullLimiter
from tests.unit.api.ecr.support import server_fixture
from tests.unit.api.ecr_public.test_ecr_public import public_client

server = server_fixture("public-pulls")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Public:
    """HTTP to the served app as a client that reached public.localhost."""

    def __init__(self, server, token: str | None = None):
        self.base, self.token = server.url, token
        self.host = f"public.localhost:{server.url.rsplit(':', 1)[1]}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Host": self.host, **kwargs.pop("headers", {})}
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return requests.request(method, self.base + path, headers=headers, timeout=30,
                                allow_redirects=False, **kwargs)


def registry_token(server, key=None) -> str:
    data = public_client(server, key).get_authorization_token()["authorizationData"]
    return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]


def bearer(server, basic_token: str | None = None) -> str:
    """What /token/ hands out: anonymously, or for Basic credentials."""
    headers = {}
    if basic_token is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"AWS:{basic_token}".encode()).decode()
    answer = Public(server).request("GET", "/token/?service=public.localhost&scope="
                                    "repository:x/y:pull", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def push(client: Public, name: str, tag: str, layer: bytes) -> str:
    """Blobs (monolithic uploads) and a manifest; the manifest's digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    blobs = []
    for data in (config, layer):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        made = client.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data=data,
                              headers={"Content-Type": "application/octet-stream"})
        assert made.status_code == 201, made.text
        assert made.headers["Location"] == f"/v2/{name}/blobs/{digest}"
        blobs.append({"mediaType": "application/octet-stream", "digest": digest,
                      "size": len(data)})
    blobs[0]["mediaType"] = "application/vnd.oci.image.config.v1+json"
    blobs[1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": blobs[0],
                       "layers": [blobs[1]]}).encode()
    put = client.request("PUT", f"/v2/{name}/manifests/{tag}", data=body,
                         headers={"Content-Type": MANIFEST})
    assert put.status_code == 201, put.text
    return "sha256:" + hashlib.sha256(body).hexdigest()


@pytest.fixture(scope="module")
def alias(server) -> str:
    return public_client(server).describe_registries()["registries"][0]["aliases"][0]["name"]


@pytest.fixture(scope="module")
def pushed(server, alias) -> tuple[str, str]:
    """A public repository with an image tagged v1 pushed over OCI with a token."""
    public_client(server).create_repository(repositoryName="app")
    client = Public(server, bearer(server, registry_token(server)))
    return f"{alias}/app", push(client, f"{alias}/app", "v1", b"layer one")


def test_the_base_endpoint_starts_ecr_publics_token_flow(server):
    answer = Public(server).request("GET", "/v2/")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        f'Bearer realm="http://{Public(server).host}/token/",service="public.localhost",'
        'scope="aws"')
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_anyone_pulls_with_the_anonymous_token(server, pushed):
    name, digest = pushed
    anonymous = Public(server, bearer(server))
    manifest = anonymous.request("GET", f"/v2/{name}/manifests/v1",
                                 headers={"Accept": MANIFEST})
    assert manifest.status_code == 200, manifest.text
    assert manifest.headers["Docker-Content-Digest"] == digest
    layer = manifest.json()["layers"][0]["digest"]
    blob = anonymous.request("GET", f"/v2/{name}/blobs/{layer}")
    assert blob.status_code == 200 and blob.content == b"layer one"
    tags = anonymous.request("GET", f"/v2/{name}/tags/list")
    assert tags.json() == {"name": name, "tags": ["v1"]}
    # No Authorization header at all pulls too (skopeo's, once it has seen no challenge).
    bare = Public(server).request("HEAD", f"/v2/{name}/manifests/v1",
                                  headers={"Accept": MANIFEST})
    assert bare.status_code == 200


def test_an_anonymous_push_is_challenged(server, pushed):
    name, _ = pushed
    anonymous = Public(server, bearer(server))
    answer = anonymous.request("POST", f"/v2/{name}/blobs/uploads/")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert anonymous.request("DELETE", f"/v2/{name}/manifests/v1").status_code == 401


def test_bad_credentials_at_the_token_endpoint_are_refused(server):
    header = "Basic " + base64.b64encode(b"AWS:v1.forged.token").decode()
    answer = Public(server).request("GET", "/token/", headers={"Authorization": header})
    assert answer.status_code == 401
    forged = Public(server, "v1.forged.token").request("GET", "/v2/")
    assert forged.status_code == 401


def test_a_push_needs_the_ecr_public_actions(server, alias):
    only_ecr = server.user("oci-only-ecr", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:*", "ecr-public:GetAuthorizationToken",
                                       "sts:GetServiceBearerToken"], "Resource": "*"}]})
    public_client(server).create_repository(repositoryName="guarded")
    client = Public(server, registry_token(server, only_ecr))
    answer = client.request("POST", f"/v2/{alias}/guarded/blobs/uploads/")
    assert answer.status_code == 403
    assert "ecr-public:InitiateLayerUpload" in answer.json()["errors"][0]["message"]


def test_unknown_aliases_and_repositories_are_not_found(server, pushed):
    anonymous = Public(server, bearer(server))
    assert anonymous.request("GET", "/v2/nosuchalias/app/manifests/v1").status_code == 404
    name = pushed[0].split("/")[0] + "/missing"
    answer = anonymous.request("GET", f"/v2/{name}/manifests/v1")
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # The catalog is the gallery's business, not the registry protocol's.
    assert anonymous.request("GET", "/v2/_catalog").status_code == 404


def test_private_repositories_are_not_reachable_through_the_public_host(server, alias):
    server.push("private-only", "v1")
    anonymous = Public(server, bearer(server))
    assert anonymous.request("GET", f"/v2/{alias}/private-only/manifests/v1").status_code == 404


def test_anonymous_pulls_are_limited_per_address_and_authenticated_ones_allowed_more(
        server, pushed):
    name, _ = pushed
    server.state.public_pulls = PullLimiter(anonymous=1, authenticated=5)
    try:
        anonymous = Public(server, bearer(server))
        statuses = [anonymous.request("GET", f"/v2/{name}/manifests/v1",
                                      headers={"Accept": MANIFEST}).status_code
                    for _ in range(BURST_SECONDS + 2)]
        assert statuses[:BURST_SECONDS - 1] == [200] * (BURST_SECONDS - 1)
        assert statuses[-1] == 429
        refused = anonymous.request("GET", f"/v2/{name}/manifests/v1")
        assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(refused.headers["Retry-After"]) >= 1
        signed_in = Public(server, registry_token(server))
        assert signed_in.request("GET", f"/v2/{name}/manifests/v1",
                                 headers={"Accept": MANIFEST}).status_code == 200
    finally:
        server.state.public_pulls = PullLimiter(anonymous=0, authenticated=0)
