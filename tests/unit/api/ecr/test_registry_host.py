"""How the ECR API names a registry (``repositoryUri``, ``proxyEndpoint``, download URLs):
as the client reached this server when that was a plain host and the registry is the
caller's own (a plain host addresses exactly that), else by its registry host name."""
from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
import requests
from starlette.requests import Request

from berth.api.ecr.access import registry_host
from berth.api.ecr.caller import ApiCaller
from berth.iam.tenancy import RegistryAddress, Tenancy
from tests.support.oci_push import push_image
from tests.unit.api.ecr.support import server_fixture

OWN, OTHER = "111122223333", "444455556666"
TENANCY = Tenancy("localhost", ("us-east-1", "eu-west-1"), "us-east-1", OTHER)


def _call(host: str | None, account: str = OWN, region: str = "eu-west-1", scheme="http"):
    headers = [] if host is None else [(b"host", host.encode())]
    app = SimpleNamespace(state=SimpleNamespace(iam=SimpleNamespace(tenancy=TENANCY)))
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": headers,
                       "scheme": scheme, "server": ("10.0.0.1", 5000), "query_string": b"",
                       "app": app})
    caller = ApiCaller(SimpleNamespace(account_id=account), region)
    return SimpleNamespace(request=request, caller=caller)


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "[::1]:5000",
                                  "registry.example.com", "registry.example.com:8443",
                                  "10.1.2.3"])
def test_the_callers_own_registry_at_a_plain_host_is_that_host(host):
    assert registry_host(_call(host), RegistryAddress(OWN, "eu-west-1")) == host


@pytest.mark.parametrize("address", [
    RegistryAddress(OTHER, "eu-west-1"),  # another account's registry
    RegistryAddress(OWN, "us-east-1"),  # its own, in another region than the signature's
])
def test_any_other_registry_is_its_host_name_with_the_port_reached(address):
    assert registry_host(_call("127.0.0.1:5000"), address) == (
        f"{address.account_id}.dkr.ecr.{address.region}.localhost:5000")
    assert registry_host(_call("registry.example.com"), address) == (
        f"{address.account_id}.dkr.ecr.{address.region}.localhost")


def test_a_call_that_came_in_on_a_registry_host_name_gets_host_names():
    own = RegistryAddress(OWN, "eu-west-1")
    for reached in (own.host("localhost") + ":5000", f"{OTHER}.dkr.ecr.us-east-1.localhost:5000"):
        assert registry_host(_call(reached), own) == f"{OWN}.dkr.ecr.eu-west-1.localhost:5000"
    assert registry_host(_call(None), own) == f"{OWN}.dkr.ecr.eu-west-1.localhost:5000"


# -- through the app: a second account, no hosts entry -----------------------------------------
server = server_fixture("ecr-registry-host")
REGION = "eu-west-1"  # not the default region: the token's region decides


@pytest.fixture(scope="module")
def team(server):
    account, key = server.account_with_user("team-b")
    return {"account": account, "client": server.client(key, region=REGION)}


def _token(data: dict) -> str:
    return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]


def test_a_second_account_pushes_to_the_plain_host_it_was_given(server, team):
    client = team["client"]
    [data] = client.get_authorization_token()["authorizationData"]
    assert data["proxyEndpoint"] == server.url  # http://127.0.0.1:<port>, as reached
    uri = client.create_repository(repositoryName="team/app")["repository"]["repositoryUri"]
    host = server.url.removeprefix("http://")
    assert uri == f"{host}/team/app"
    session = requests.Session()
    session.auth = ("AWS", _token(data))
    registry, _, name = uri.partition("/")
    digest = push_image(session, f"http://{registry}", name, "v1", b'{"os":"linux"}', [b"l"])
    [image] = client.describe_images(repositoryName="team/app")["imageDetails"]
    assert (image["imageDigest"], image["registryId"]) == (digest, team["account"])
    # Neither in the default account's registry nor in its own in another region.
    for elsewhere in (server.client(), server.client(_key(server, team), region="us-east-1")):
        with pytest.raises(elsewhere.exceptions.RepositoryNotFoundException):
            elsewhere.describe_images(repositoryName="team/app")


def test_another_accounts_registry_is_named_by_its_host_name(server, team):
    port = server.url.rsplit(":", 1)[1]
    other = f"{server.account}.dkr.ecr.{REGION}.localhost:{port}"
    data = team["client"].get_authorization_token(
        registryIds=[team["account"], server.account])["authorizationData"]
    assert [d["proxyEndpoint"] for d in data] == [server.url, f"http://{other}"]
    server.client(region=REGION).create_repository(repositoryName="shared/app")
    server.client(region=REGION).set_repository_policy(
        repositoryName="shared/app", policyText=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": team["account"]},
            "Action": "ecr:DescribeRepositories"}]}))
    [shared] = team["client"].describe_repositories(
        registryId=server.account, repositoryNames=["shared/app"])["repositories"]
    assert shared["repositoryUri"] == f"{other}/shared/app"


def test_a_call_on_a_registry_host_name_is_answered_in_host_names(server, team):
    port = server.url.rsplit(":", 1)[1]
    own = f"{team['account']}.dkr.ecr.{REGION}.localhost:{port}"
    client = team["client"]

    def named_host(request, **_):  # as if the host name resolved to this server
        request.headers["Host"] = own
    client.meta.events.register("before-sign.ecr", named_host)
    try:
        [data] = client.get_authorization_token()["authorizationData"]
        repo = client.create_repository(repositoryName="team/named")["repository"]
    finally:
        client.meta.events.unregister("before-sign.ecr", named_host)
    assert data["proxyEndpoint"] == f"http://{own}"
    assert repo["repositoryUri"] == f"{own}/team/named"


def _key(server, team):
    return server.account_user(team["account"], "second")
