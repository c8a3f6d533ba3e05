"""Pull-through cache rules through the ECR API (boto3 against the full app): Create, Describe
(paged), Update, Delete and ValidatePullThroughCacheRule answer what botocore's model says
(the raw JSON checked against the output shapes), and ECR's errors by name and status.
Credentials are secrets put with the app's master key (berth.secrets.SecretService)."""
from __future__ import annotations

import itertools
import json

import pytest
from botocore.exceptions import ClientError

from berth.api.ecr import model
from berth.secrets import SecretService
from tests.support.ecr_shapes import shape_problems
from tests.support.ports import free_port
from tests.unit.api.ecr.support import REGION, code_of, message_of, server_fixture

server = server_fixture("ecr-pullthrough")

CLOSED = "127.0.0.1:1"  # nothing listens on loopback port 1: refused at once
ROLE = "arn:aws:iam::{account}:role/pull-through"


class Recorded:
    """A client of a fresh account of its own, and the raw JSON of each answer it got."""

    def __init__(self, server, name: str):
        self.server = server
        self.account, key = server.account_with_user(name)
        self.client = server.client(key)
        self.raw: list[tuple[str, int, dict]] = []
        self.client.meta.events.register("after-call.ecr", self._keep)

    def _keep(self, http_response, model, **_):
        content = http_response.content
        self.raw.append((model.name, http_response.status_code,
                         json.loads(content) if content.strip() else {}))

    def last_raw(self, operation: str) -> dict:
        return [body for name, _, body in self.raw if name == operation][-1]

    def secret(self, name: str = "hub", username: str = "puller",
               token: str = "token") -> str:
        """The ARN of a pull-through cache secret of this account, in REGION."""
        store = SecretService(self.server.state.registry.db,
                              self.server.state.iam.identities.master)
        return store.put(self.account, REGION, f"ecr-pullthroughcache/{name}", json.dumps(
            {"username": username, "accessToken": token})).arn

    def arn(self, region: str = REGION, name: str = "hub") -> str:
        return (f"arn:aws:secretsmanager:{region}:{self.account}:secret:"
                f"ecr-pullthroughcache/{name}-AbCdEf")


_ACCOUNTS = itertools.count()


@pytest.fixture
def own(server) -> Recorded:
    return Recorded(server, f"ptc-{next(_ACCOUNTS)}")


def _assert_shapes(own: Recorded) -> None:
    """Every answer recorded is its operation's output shape, exactly."""
    for operation, status, body in own.raw:
        if status == 200:
            output = model.operation_model(operation).output_shape
            assert shape_problems(body, output) == [], (operation, body)


def _status(caught) -> int:
    return caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


# -- the operations ---------------------------------------------------------------------------
def test_create_describe_update_delete(own):
    client, account = own.client, own.account
    arn = own.secret()
    role = ROLE.format(account=account)
    made = client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="my-app", upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=arn, customRoleArn=role, upstreamRepositoryPrefix="upstream-app")
    assert {k: v for k, v in made.items() if k not in ("ResponseMetadata", "createdAt")} == {
        "ecrRepositoryPrefix": "my-app", "upstreamRegistryUrl": "registry-1.docker.io",
        "upstreamRegistry": "docker-hub", "registryId": account, "credentialArn": arn,
        "customRoleArn": role, "upstreamRepositoryPrefix": "upstream-app"}
    listed = client.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert len(listed) == 1 and listed[0]["createdAt"] == made["createdAt"]
    assert "updatedAt" not in listed[0]  # never updated
    assert listed[0]["upstreamRegistry"] == "docker-hub"

    other = own.secret("rotated")
    updated = client.update_pull_through_cache_rule(ecrRepositoryPrefix="my-app",
                                                    credentialArn=other)
    assert updated["credentialArn"] == other and updated["registryId"] == account
    assert updated["customRoleArn"] == role  # not named: kept
    assert updated["upstreamRepositoryPrefix"] == "upstream-app"
    assert updated["updatedAt"] >= made["createdAt"]
    listed = client.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert listed[0]["updatedAt"] == updated["updatedAt"]
    assert listed[0]["upstreamRegistryUrl"] == "registry-1.docker.io"

    deleted = client.delete_pull_through_cache_rule(ecrRepositoryPrefix="my-app")
    assert (deleted["ecrRepositoryPrefix"], deleted["credentialArn"],
            deleted["createdAt"]) == ("my-app", other, made["createdAt"])
    assert client.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    _assert_shapes(own)
    assert "upstreamRegistry" not in own.last_raw("DeletePullThroughCacheRule")
    assert "upstreamRegistryUrl" not in own.last_raw("UpdatePullThroughCacheRule")


def test_rules_are_per_registry(server, own):
    own.client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay",
                                              upstreamRegistryUrl="quay.io")
    assert [r["ecrRepositoryPrefix"] for r in server.client().describe_pull_through_cache_rules(
        )["pullThroughCacheRules"]] == []
    described = own.client.describe_pull_through_cache_rules(registryId=own.account)
    assert [(r["ecrRepositoryPrefix"], r["upstreamRegistry"], r["registryId"])
            for r in described["pullThroughCacheRules"]] == [("quay", "quay", own.account)]


def test_a_trailing_slash_names_the_same_rule(own):
    client = own.client
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="prod/",
                                          upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.PullThroughCacheRuleAlreadyExistsException):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="prod",
                                              upstreamRegistryUrl=CLOSED)
    found = client.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["prod"])
    assert [r["ecrRepositoryPrefix"] for r in found["pullThroughCacheRules"]] == ["prod/"]
    client.delete_pull_through_cache_rule(ecrRepositoryPrefix="prod")


# -- errors -----------------------------------------------------------------------------------
def test_already_exists(own):
    client = own.client
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="ROOT",
                                          upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.PullThroughCacheRuleAlreadyExistsException) as caught:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="ROOT",
                                              upstreamRegistryUrl="quay.io")
    assert _status(caught) == 400
    assert "'ROOT'" in message_of(caught) and own.account in message_of(caught)


@pytest.mark.parametrize("operation, params", [
    ("update_pull_through_cache_rule", {"ecrRepositoryPrefix": "absent"}),
    ("delete_pull_through_cache_rule", {"ecrRepositoryPrefix": "absent"}),
    ("validate_pull_through_cache_rule", {"ecrRepositoryPrefix": "absent"}),
    ("describe_pull_through_cache_rules", {"ecrRepositoryPrefixes": ["present", "absent"]}),
])
def test_not_found(own, operation, params):
    client = own.client
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="present",
                                          upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.PullThroughCacheRuleNotFoundException) as caught:
        getattr(client, operation)(**params)
    assert _status(caught) == 400
    assert "'absent'" in message_of(caught) and own.account in message_of(caught)


def test_limit_exceeded(own):
    client = own.client
    for n in range(50):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=f"cache{n:02d}",
                                              upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.LimitExceededException) as caught:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="one-more",
                                              upstreamRegistryUrl=CLOSED)
    assert _status(caught) == 400
    assert len(client.describe_pull_through_cache_rules()["pullThroughCacheRules"]) == 50


@pytest.mark.parametrize("params, says", [
    ({"upstreamRegistryUrl": "registry.example/library"}, "upstreamRegistryUrl"),
    ({"upstreamRegistryUrl": "https://registry.example?x=1"}, "upstreamRegistryUrl"),
    ({"upstreamRegistryUrl": "ftp://registry.example"}, "upstreamRegistryUrl"),
    ({"upstreamRegistryUrl": "registry-1.docker.io"}, "credential ARN is required"),
    ({"upstreamRegistryUrl": "ghcr.io"}, "credential ARN is required"),
    ({"upstreamRegistryUrl": CLOSED, "customRoleArn": "not-a-role"}, "customRoleArn"),
    ({"ecrRepositoryPrefix": "ROOT", "upstreamRegistryUrl": CLOSED,
      "upstreamRepositoryPrefix": "upstream-app"}, "not ROOT"),
])
def test_invalid_parameter(own, params, says):
    client = own.client
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.create_pull_through_cache_rule(**{"ecrRepositoryPrefix": "cache", **params})
    assert _status(caught) == 400
    assert says in message_of(caught)
    assert client.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_secret_not_found(own):
    client = own.client
    with pytest.raises(client.exceptions.SecretNotFoundException) as caught:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="hub",
                                              upstreamRegistryUrl="registry-1.docker.io",
                                              credentialArn=own.arn(name="nobody-put-it"))
    assert _status(caught) == 400
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="hub", upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.SecretNotFoundException):
        client.update_pull_through_cache_rule(ecrRepositoryPrefix="hub",
                                              credentialArn=own.arn(name="nobody-put-it"))
    assert "credentialArn" not in client.describe_pull_through_cache_rules()[
        "pullThroughCacheRules"][0]


def test_unable_to_access_a_secret_of_another_region(own):
    client = own.client
    own.secret()  # the same name in REGION: not the one named
    elsewhere = own.arn(region="eu-west-1")
    with pytest.raises(client.exceptions.UnableToAccessSecretException) as caught:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="hub",
                                              upstreamRegistryUrl="registry-1.docker.io",
                                              credentialArn=elsewhere)
    assert _status(caught) == 400 and "eu-west-1" in message_of(caught)
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="hub", upstreamRegistryUrl=CLOSED)
    with pytest.raises(client.exceptions.UnableToAccessSecretException):
        client.update_pull_through_cache_rule(ecrRepositoryPrefix="hub",
                                              credentialArn=elsewhere)


def test_another_account_s_secret_is_not_accessible(server, own):
    other, _ = server.account_with_user("ptc-secret-owner")
    arn = SecretService(server.state.registry.db, server.state.iam.identities.master).put(
        other, REGION, "ecr-pullthroughcache/hub", json.dumps(
            {"username": "u", "accessToken": "t"})).arn
    with pytest.raises(own.client.exceptions.UnableToAccessSecretException):
        own.client.create_pull_through_cache_rule(
            ecrRepositoryPrefix="hub", upstreamRegistryUrl="registry-1.docker.io",
            credentialArn=arn)


# -- paging -----------------------------------------------------------------------------------
def test_describe_pages(own):
    client = own.client
    prefixes = [f"page{n}" for n in range(7)]
    for prefix in reversed(prefixes):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix,
                                              upstreamRegistryUrl=CLOSED)
    seen, token, pages = [], None, 0
    while True:
        page = client.describe_pull_through_cache_rules(
            maxResults=3, **({"nextToken": token} if token else {}))
        assert len(page["pullThroughCacheRules"]) <= 3
        seen += [r["ecrRepositoryPrefix"] for r in page["pullThroughCacheRules"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert (seen, pages) == (prefixes, 3)
    paginator = client.get_paginator("describe_pull_through_cache_rules")
    named = paginator.paginate(ecrRepositoryPrefixes=["page5", "page1", "page3"],
                               PaginationConfig={"PageSize": 2})
    assert [r["ecrRepositoryPrefix"] for p in named for r in p["pullThroughCacheRules"]] == [
        "page1", "page3", "page5"]
    _assert_shapes(own)


def test_a_next_token_belongs_to_its_request(own):
    client = own.client
    for n in range(3):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=f"tok{n}",
                                              upstreamRegistryUrl=CLOSED)
    token = client.describe_pull_through_cache_rules(maxResults=1)["nextToken"]
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["tok1", "tok2"],
                                                 nextToken=token)
    assert "nextToken" in message_of(caught)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.describe_pull_through_cache_rules(nextToken="not-a-token")


# -- validate ---------------------------------------------------------------------------------
def test_validate_an_unreachable_upstream(own):
    client = own.client
    port = free_port()  # bound then closed: nothing listens there
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="down",
                                          upstreamRegistryUrl=f"127.0.0.1:{port}",
                                          upstreamRepositoryPrefix="library")
    answer = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="down")
    assert answer["isValid"] is False
    assert answer["failure"].startswith("The upstream registry could not be reached")
    assert (answer["ecrRepositoryPrefix"], answer["registryId"], answer["upstreamRegistryUrl"],
            answer["upstreamRepositoryPrefix"]) == ("down", own.account, f"127.0.0.1:{port}",
                                                    "library")
    _assert_shapes(own)


def test_validate_a_deleted_secret_is_a_failure(server, own):
    client = own.client
    arn = own.secret("gone")
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="gone", upstreamRegistryUrl=CLOSED,
                                          credentialArn=arn)
    SecretService(server.state.registry.db, server.state.iam.identities.master).delete(
        own.account, REGION, "ecr-pullthroughcache/gone")
    answer = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="gone")
    assert answer["isValid"] is False and "does not exist" in answer["failure"]
    assert answer["credentialArn"] == arn


def test_validate_against_this_server_as_the_upstream(server, own):
    """The app itself is an OCI registry: with a token of the account as the secret's
    password, /v2/ answers 200."""
    key = server.account_user(own.account, "puller")
    token = server.state.iam.tokens.mint(key.id)[0]
    arn = own.secret("self", username="AWS", token=token)
    client = own.client
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="self", credentialArn=arn,
                                          upstreamRegistryUrl=server.url)
    answer = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="self")
    assert answer["isValid"] is True and "failure" not in answer
    bad = own.secret("self-bad", username="AWS", token="wrong")
    client.update_pull_through_cache_rule(ecrRepositoryPrefix="self", credentialArn=bad)
    answer = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="self")
    assert answer["isValid"] is False and "refused" in answer["failure"]
    _assert_shapes(own)


# -- URLs the domain must refuse ---------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://", "https://:5000", "http://[::1"])
def test_a_url_without_a_host_is_invalid(own, url):
    with pytest.raises(ClientError) as caught:
        own.client.create_pull_through_cache_rule(ecrRepositoryPrefix="nohost",
                                                  upstreamRegistryUrl=url)
    assert code_of(caught) == "InvalidParameterException"


def test_a_port_out_of_range(own):
    client = own.client
    try:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="badport",
                                              upstreamRegistryUrl="127.0.0.1:99999")
    except client.exceptions.InvalidParameterException:
        return  # refused up front: fine
    answer = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="badport")
    assert answer["isValid"] is False
