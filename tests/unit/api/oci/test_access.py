"""The registry's gate on other accounts' registries: a caller learns nothing about which
accounts, registries or repositories exist there. A host naming an account that does not
exist answers exactly as one naming an existing account the caller may not use."""
from __future__ import annotations

import pytest

from berth.iam.tenancy import RegistryAddress
from tests.support.credentials import basic
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create

from .support import OCI_MANIFEST, assert_error, sha256

MISSING = "999999999999"
# (method, path): every kind of route, on a repository and on the catalog.
ROUTES = [("GET", "/v2/web/manifests/v1"), ("HEAD", "/v2/web/manifests/v1"),
          ("PUT", "/v2/web/manifests/v2"), ("DELETE", "/v2/web/manifests/v1"),
          ("GET", f"/v2/web/blobs/{sha256(b'layer')}"), ("POST", "/v2/web/blobs/uploads/"),
          ("GET", "/v2/web/tags/list"), ("GET", f"/v2/web/referrers/{sha256(b'x')}"),
          ("GET", "/v2/absent/manifests/v1"), ("GET", "/v2/_catalog")]


@pytest.fixture
def world(oci):
    """An account with a registry and a repository ``web`` in it, one with no registry yet,
    and a stranger's token (the root of a third account, which may do anything in its own)."""
    iam = oci.client.app.app.state.iam
    made, unmade = (iam.identities.create_account(n).id for n in ("made", "unmade"))
    stranger = iam.identities.create_account("stranger").id
    token = iam.tokens.mint(iam.identities.create_access_key(stranger).id)[0]
    registry = oci.client.app.app.state.registry.scoped(
        iam.registry_id(RegistryAddress(made, "us-east-1")))
    pushes_create(registry.db, registry.registry_id)
    push_image(registry, "web", "v1", b"layer")  # content behind the names
    return {"made": made, "unmade": unmade, "token": token}


def _answer(oci, method: str, path: str, account: str, token: str) -> tuple:
    response = oci.request(method, path, content=b"{}" if method == "PUT" else None, headers={
        "Host": f"{account}.dkr.ecr.us-east-1.localhost:5000",
        "Authorization": basic(token), "Content-Type": OCI_MANIFEST})
    body = response.content.replace(account.encode(), b"<account>")
    headers = {k: v.replace(account, "<account>") for k, v in response.headers.items()
               if k.lower() not in ("content-length", "x-request-id")}
    return response.status_code, headers, body


@pytest.mark.parametrize("method,path", ROUTES)
def test_a_missing_account_answers_as_an_existing_one(oci, world, method, path):
    answers = {account: _answer(oci, method, path, world[account] if account != "missing"
                                else MISSING, world["token"])
               for account in ("made", "unmade", "missing")}
    status = answers["made"][0]
    assert status == (200 if path == "/v2/_catalog" else 403), answers["made"]
    if path == "/v2/_catalog":
        assert answers["made"][2] == b'{"repositories":[]}'
    elif method != "HEAD":
        assert b'"DENIED"' in answers["made"][2]
    assert answers["unmade"] == answers["made"]
    assert answers["missing"] == answers["made"]


# -- a plain host: the caller's own registry -------------------------------------------------
@pytest.fixture
def team(oci):
    """A second account's root token, minted in eu-west-1 as GetAuthorizationToken there
    mints it; the client sends it (the plain host ``testserver``: no registry host name)."""
    iam = oci.client.app.app.state.iam
    account = iam.identities.create_account("team-b").id
    key = iam.identities.create_access_key(account).id
    admin = oci.client.headers["Authorization"]
    oci.client.headers["Authorization"] = basic(iam.tokens.mint(key, region="eu-west-1")[0])
    registry_id = iam.registry_id(RegistryAddress(account, "eu-west-1"))
    pushes_create(iam.db, registry_id)  # its pushes make their repositories
    yield {"account": account, "admin": admin,
           "registry": lambda: oci.client.app.app.state.registry.scoped(
               iam.registry_id(RegistryAddress(account, "eu-west-1")))}


def test_a_push_to_a_plain_host_lands_in_the_callers_own_registry(oci, team):
    image = oci.push_image("team/app", "v1")
    assert team["registry"]().repositories.tags("team/app", None, None)[0] == ["v1"]
    assert oci.get("/v2/team/app/manifests/v1").content == image.body
    assert oci.get("/v2/_catalog").json() == {"repositories": ["team/app"]}
    admin = {"Authorization": team["admin"]}  # the administrator's plain host: its own
    assert_error(oci.get("/v2/team/app/manifests/v1", headers=admin), 404, "NAME_UNKNOWN")
    assert oci.get("/v2/_catalog", headers=admin).json() == {"repositories": []}


def test_another_accounts_repository_is_unknown_at_a_plain_host(oci, team):
    _push_as(oci, team["admin"], "only/admin")
    assert_error(oci.get("/v2/only/admin/manifests/v1"), 404, "NAME_UNKNOWN")
    assert_error(oci.get("/v2/only/admin/tags/list"), 404, "NAME_UNKNOWN")
    # By its registry host name it is the administrator's: cross-account, refused.
    default = oci.client.app.app.state.iam.tenancy.default
    named = oci.get("/v2/only/admin/manifests/v1",
                    headers={"Host": default.host("localhost") + ":5000"})
    assert_error(named, 403, "DENIED")
    assert default.repository_arn("only/admin") in named.text


def test_a_plain_host_asks_strangers_to_log_in(oci, team):
    response = oci.get("/v2/team/app/manifests/v1", headers={"Authorization": ""})
    assert_error(response, 401, "UNAUTHORIZED")
    assert "WWW-Authenticate" in response.headers


def test_a_refusal_at_a_plain_host_names_the_callers_own_registry(oci, team):
    iam = oci.client.app.app.state.iam
    iam.identities.create_user(team["account"], "nobody")  # no policy: may do nothing
    key = iam.identities.create_access_key(team["account"], "nobody").id
    token = iam.tokens.mint(key, region="eu-west-1")[0]
    response = oci.get("/v2/team/app/manifests/v1", headers={"Authorization": basic(token)})
    assert_error(response, 403, "DENIED")
    own = RegistryAddress(team["account"], "eu-west-1")
    assert own.repository_arn("team/app") in response.text


def _push_as(oci, authorization: str, repo: str) -> None:
    token = oci.client.headers["Authorization"]
    oci.client.headers["Authorization"] = authorization
    try:
        oci.push_image(repo, "v1")
    finally:
        oci.client.headers["Authorization"] = token
