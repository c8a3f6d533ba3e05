"""ECR Public's API (boto3's ``ecr-public`` client) against the full app served on a loopback
port: the caller's public registry, its alias, repositories with catalog data, tokens."""
from __future__ import annotations

import base64
import json

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from berth.iam.tenancy import PUBLIC
from berth.public.models import ALIAS
from tests.support.aws_retries import retry_throttling
from tests.unit.api.ecr.support import error_of, server_fixture

server = server_fixture("ecr-public")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def public_client(server, key=None):
    key = key or server.admin
    return retry_throttling(boto3.session.Session().client(
        "ecr-public", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=key.id, aws_secret_access_key=key.secret,
        config=Config(retries={"max_attempts": 1})))


def port_of(server) -> str:
    return server.url.rsplit(":", 1)[1]


def test_describe_registries_gives_the_account_one_registry_with_a_default_alias(server):
    registries = public_client(server).describe_registries()["registries"]
    assert len(registries) == 1
    registry = registries[0]
    alias = registry["aliases"][0]
    assert ALIAS.fullmatch(alias["name"]) and len(alias["name"]) == 8
    assert alias == {"name": alias["name"], "status": "ACTIVE", "primaryRegistryAlias": True,
                     "defaultRegistryAlias": True}
    assert registry["registryId"] == server.account
    assert registry["registryArn"] == (
        f"arn:aws:ecr-public::{server.account}:registry/{server.account}")
    assert registry["registryUri"] == f"public.localhost:{port_of(server)}/{alias['name']}"
    # The same alias every time: it is the registry's.
    again = public_client(server).describe_registries()["registries"][0]
    assert again["aliases"][0]["name"] == alias["name"]


def test_create_repository_with_catalog_data(server):
    client = public_client(server)
    alias = client.describe_registries()["registries"][0]["aliases"][0]["name"]
    made = client.create_repository(repositoryName="team/tool", catalogData={
        "description": "A tool", "aboutText": "# About\n<script>x</script>",
        "usageText": "docker pull ...", "architectures": ["x86-64", "ARM 64", "x86-64"],
        "operatingSystems": ["Linux"], "logoImageBlob": PNG},
        tags=[{"Key": "team", "Value": "a"}])
    repo = made["repository"]
    assert repo["repositoryArn"] == f"arn:aws:ecr-public::{server.account}:repository/team/tool"
    assert repo["repositoryUri"] == f"public.localhost:{port_of(server)}/{alias}/team/tool"
    assert set(repo) == {"ResponseMetadata", "repositoryArn", "registryId", "repositoryName",
                         "repositoryUri", "createdAt"} - {"ResponseMetadata"}
    catalog = client.get_repository_catalog_data(repositoryName="team/tool")["catalogData"]
    assert catalog["description"] == "A tool"
    assert catalog["aboutText"].startswith("# About")
    assert catalog["architectures"] == ["x86-64", "ARM 64"]  # as given, once each
    assert catalog["operatingSystems"] == ["Linux"]
    assert made["catalogData"]["description"] == "A tool"
    assert catalog["logoUrl"] == f"{server.url}/gallery/_logo/{alias}/team/tool"
    assert requests.get(catalog["logoUrl"], timeout=30).content == PNG
    tags = client.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "a"}]


def test_put_repository_catalog_data_replaces_what_it_names_and_keeps_the_rest(server):
    client = public_client(server)
    client.create_repository(repositoryName="merge", catalogData={"description": "one",
                                                                  "usageText": "use"})
    out = client.put_repository_catalog_data(repositoryName="merge",
                                             catalogData={"description": "two"})
    assert out["catalogData"]["description"] == "two"
    assert out["catalogData"]["usageText"] == "use"
    got = client.get_repository_catalog_data(repositoryName="merge")["catalogData"]
    assert (got["description"], got["usageText"]) == ("two", "use")


def test_a_logo_that_is_not_png_or_jpeg_is_refused_and_nothing_is_made(server):
    client = public_client(server)
    with pytest.raises(ClientError) as caught:
        client.create_repository(repositoryName="svg-logo", catalogData={
            "logoImageBlob": b"<svg onload='alert(1)'/>"})
    assert error_of(caught)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        client.describe_repositories(repositoryNames=["svg-logo"])
    assert error_of(caught)[0] == "RepositoryNotFoundException"


def test_errors_as_ecr_public_names_them(server):
    client = public_client(server)
    client.create_repository(repositoryName="twice")
    with pytest.raises(ClientError) as caught:
        client.create_repository(repositoryName="twice")
    assert error_of(caught) == ("RepositoryAlreadyExistsException", "The repository with name "
                                f"'twice' already exists in the registry with id "
                                f"'{server.account}'")
    with pytest.raises(ClientError) as caught:
        client.get_repository_catalog_data(repositoryName="missing")
    assert error_of(caught)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as caught:
        client.describe_entitled_repositories()
    assert error_of(caught)[0] == "UnsupportedCommandException"


def test_public_and_private_repositories_are_apart(server):
    public_client(server).create_repository(repositoryName="only-public")
    private = server.client()
    with pytest.raises(ClientError) as caught:
        private.describe_repositories(repositoryNames=["only-public"])
    assert error_of(caught)[0] == "RepositoryNotFoundException"
    listed = public_client(server).describe_repositories()["repositories"]
    assert "only-public" in {r["repositoryName"] for r in listed}
    assert all(r["repositoryArn"].startswith("arn:aws:ecr-public::") for r in listed)


def test_ecr_public_actions_are_what_policies_decide(server):
    only_ecr = server.user("only-ecr", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})
    with pytest.raises(ClientError) as caught:
        public_client(server, only_ecr).create_repository(repositoryName="denied")
    code, message = error_of(caught)
    assert code == "AccessDeniedException"
    assert "ecr-public:CreateRepository" in message
    assert f"arn:aws:ecr-public::{server.account}:repository/denied" in message
    publisher = server.user("publisher", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"}]})
    public_client(server, publisher).create_repository(repositoryName="allowed")
    with pytest.raises(ClientError) as caught:  # ECR Public's token also needs STS's action
        public_client(server, publisher).get_authorization_token()
    assert "sts:GetServiceBearerToken" in error_of(caught)[1]


def test_registry_catalog_data_round_trips(server):
    client = public_client(server)
    out = client.put_registry_catalog_data(displayName="Berth Tests", description="d")
    assert out["registryCatalogData"]["displayName"] == "Berth Tests"
    got = client.get_registry_catalog_data()["registryCatalogData"]
    assert (got["displayName"], got["description"]) == ("Berth Tests", "d")
    assert "logoUrl" not in got
    client.put_registry_catalog_data(description="e", logoImageBlob=PNG)  # the name stays
    alias = client.describe_registries()["registries"][0]["aliases"][0]["name"]
    assert client.get_registry_catalog_data()["registryCatalogData"]["logoUrl"] == (
        f"{server.url}/gallery/_logo/{alias}")
    assert client.get_registry_catalog_data()["registryCatalogData"]["displayName"] == "Berth Tests"


def test_images_pushed_through_the_api_are_described_with_their_tags(server):
    client = public_client(server)
    client.create_repository(repositoryName="api-pushed")
    registry_id = server.state.iam.registry_id(
        server.state.iam.tenancy.public(server.account))
    reg = server.state.registry.scoped(registry_id)
    from tests.support.registry_images import push_image
    digest = str(push_image(reg, "api-pushed", "v1"))
    push_image(reg, "api-pushed", "v2", layer=b"other")
    tags = client.describe_image_tags(repositoryName="api-pushed")["imageTagDetails"]
    assert sorted(t["imageTag"] for t in tags) == ["v1", "v2"]
    v1 = next(t for t in tags if t["imageTag"] == "v1")
    assert v1["imageDetail"]["imageDigest"] == digest
    # A tag set on the image later says so (createdAt is the tag's, not the push's).
    assert str(push_image(reg, "api-pushed", "later")) == digest  # the same image
    later = next(t for t in client.describe_image_tags(repositoryName="api-pushed")[
        "imageTagDetails"] if t["imageTag"] == "later")
    assert later["createdAt"] > later["imageDetail"]["imagePushedAt"]
    assert v1["imageDetail"]["imageSizeInBytes"] > 0
    images = client.describe_images(repositoryName="api-pushed")["imageDetails"]
    assert {i["imageDigest"] for i in images} >= {digest}
    assert "imageScanStatus" not in images[0]  # not in ECR Public's shape
    page = client.describe_image_tags(repositoryName="api-pushed", maxResults=2)
    rest = client.describe_image_tags(repositoryName="api-pushed",
                                      nextToken=page["nextToken"])
    assert len(page["imageTagDetails"]) == 2 and len(rest["imageTagDetails"]) == 1
    assert "nextToken" not in rest


def test_the_authorization_token_is_a_registry_token(server):
    data = public_client(server).get_authorization_token()["authorizationData"]
    user, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and token.startswith("v1.")
    assert server.state.iam.authenticate_token(token).account_id == server.account
    assert PUBLIC not in json.dumps(str(data["expiresAt"]))
