"""Repository operations through the ECR API: boto3 against the full app served by uvicorn,
signed with keys Berth made."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.unit.api.ecr.support import REGION, error_of as _error, server_fixture


def allow(action="ecr:*", resource="*", condition=None) -> str:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


server = server_fixture("ecr-repositories")


def test_create_repository_answers_as_ecr(server):
    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    repo = server.client().create_repository(repositoryName="create/plain")["repository"]
    port = server.url.rsplit(":", 1)[1]
    assert repo["repositoryArn"] == (
        f"arn:aws:ecr:{REGION}:{server.account}:repository/create/plain")
    assert repo["registryId"] == server.account
    # Reached at a plain host, of the caller's own registry: that host (test_registry_host.py).
    assert repo["repositoryUri"] == f"127.0.0.1:{port}/create/plain"
    assert before <= repo["createdAt"] <= datetime.now(timezone.utc)
    assert repo["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repo
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}


def test_create_with_every_setting_round_trips(server):
    client = server.client()
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"},
               {"filterType": "WILDCARD", "filter": "latest"}]
    key = server.state.registry.encryption.keys.service.create(server.account, REGION).arn
    made = client.create_repository(
        repositoryName="create/full", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key},
        tags=[{"Key": "team", "Value": "blue"}, {"Key": "cost center", "Value": ""}])["repository"]
    [described] = client.describe_repositories(repositoryNames=["create/full"])["repositories"]
    assert described == made
    assert made["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert made["imageTagMutabilityExclusionFilters"] == filters
    assert made["imageScanningConfiguration"] == {"scanOnPush": True}
    assert made["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    tags = client.list_tags_for_resource(resourceArn=made["repositoryArn"])["tags"]
    assert tags == [{"Key": "cost center", "Value": ""}, {"Key": "team", "Value": "blue"}]


def test_create_refusals(server):
    client = server.client()
    client.create_repository(repositoryName="create/twice")
    with pytest.raises(client.exceptions.RepositoryAlreadyExistsException) as caught:
        client.create_repository(repositoryName="create/twice")
    assert _error(caught)[1] == ("The repository with name 'create/twice' already exists in "
                                 f"the registry with id '{server.account}'")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.create_repository(repositoryName="Upper/Case")
    refused = [
        {"imageTagMutability": "MUTABLE",
         "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}]},
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION"},
        {"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": "alias/mine"}},
        {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "not a key"}},
    ]
    for extra in refused:
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.create_repository(repositoryName="create/refused", **extra)
    _assert_missing(client, "create/refused")


def test_invalid_or_too_many_tags_create_nothing(server):
    client = server.client()
    with pytest.raises(client.exceptions.InvalidTagParameterException):
        client.create_repository(repositoryName="create/tags",
                                 tags=[{"Key": "AWS:owner", "Value": "me"}])
    with pytest.raises(client.exceptions.InvalidTagParameterException):
        client.create_repository(repositoryName="create/tags",
                                 tags=[{"Key": "k" * 129, "Value": "v"}])
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(client.exceptions.TooManyTagsException):
        client.create_repository(repositoryName="create/tags", tags=many)
    _assert_missing(client, "create/tags")
    client.create_repository(repositoryName="create/tags", tags=many[:50])


def _assert_missing(client, name: str) -> None:
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.describe_repositories(repositoryNames=[name])


def test_describe_named_and_paginated(server):
    client = server.client()
    names = [f"list/r{i}" for i in range(5)]
    for name in names:
        client.create_repository(repositoryName=name)
    with pytest.raises(client.exceptions.RepositoryNotFoundException) as caught:
        client.describe_repositories(repositoryNames=["list/r0", "list/absent"])
    assert _error(caught)[1] == ("The repository with name 'list/absent' does not exist in "
                                 f"the registry with id '{server.account}'")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.describe_repositories(repositoryNames=["list/r0"], maxResults=1)
    seen, token, pages = [], None, 0
    while True:
        more = {"nextToken": token} if token else {}
        page = client.describe_repositories(maxResults=2, **more)
        seen += [r["repositoryName"] for r in page["repositories"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert set(names) <= set(seen) and seen == sorted(seen) and len(seen) == len(set(seen))
    assert pages >= 3
    paginated = client.get_paginator("describe_repositories").paginate().build_full_result()
    assert [r["repositoryName"] for r in paginated["repositories"]] == seen
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.describe_repositories(nextToken="%%%")


def test_listing_filters_and_naming_refuses_what_the_caller_may_not_describe(server):
    admin = server.client()
    for name in ("seen/a", "seen/b", "hidden/a"):
        admin.create_repository(repositoryName=name)
    arn = f"arn:aws:ecr:{REGION}:{server.account}:repository/seen/*"
    user = server.client(server.user("lister", allow("ecr:DescribeRepositories", arn)))
    listed = user.describe_repositories(maxResults=1)
    names = [r["repositoryName"] for r in listed["repositories"]]
    while listed.get("nextToken"):
        listed = user.describe_repositories(maxResults=1, nextToken=listed["nextToken"])
        names += [r["repositoryName"] for r in listed["repositories"]]
    assert names == ["seen/a", "seen/b"]
    assert user.describe_repositories(repositoryNames=["seen/b"])["repositories"]
    with pytest.raises(user.exceptions.ClientError) as caught:
        user.describe_repositories(repositoryNames=["hidden/a"])
    assert _error(caught)[0] == "AccessDeniedException"


def test_create_condition_keys_come_from_the_request_tags(server):
    key = server.user("tagged-creator", allow("ecr:CreateRepository", condition={
        "StringEquals": {"aws:RequestTag/team": "blue"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}))
    client = server.client(key)
    client.create_repository(repositoryName="cond/ok", tags=[{"Key": "team", "Value": "blue"}])
    for tags in ([], [{"Key": "team", "Value": "red"}],
                 [{"Key": "team", "Value": "blue"}, {"Key": "extra", "Value": "x"}]):
        with pytest.raises(client.exceptions.ClientError) as caught:
            client.create_repository(repositoryName="cond/refused", tags=tags)
        assert _error(caught)[0] == "AccessDeniedException"


def test_delete_repository(server):
    client = server.client()
    made = client.create_repository(repositoryName="del/empty")["repository"]
    assert client.delete_repository(repositoryName="del/empty")["repository"] == made
    _assert_missing(client, "del/empty")
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.delete_repository(repositoryName="del/empty")
    server.push("del/full", "v1")
    with pytest.raises(client.exceptions.RepositoryNotEmptyException) as caught:
        client.delete_repository(repositoryName="del/full")
    assert _error(caught)[1] == ("The repository with name 'del/full' in registry with id "
                                 f"'{server.account}' cannot be deleted because it still "
                                 "contains images")
    deleted = client.delete_repository(repositoryName="del/full", force=True)["repository"]
    assert deleted["repositoryName"] == "del/full"
    _assert_missing(client, "del/full")
    server.push("del/full", "v1")  # the name is free again; a push makes it anew


def test_put_image_tag_mutability_and_scanning(server):
    client = server.client()
    client.create_repository(repositoryName="put/settings")
    filters = [{"filterType": "WILDCARD", "filter": "release-*"}]
    done = client.put_image_tag_mutability(
        repositoryName="put/settings", imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters)
    assert (done["registryId"], done["repositoryName"], done["imageTagMutability"],
            done["imageTagMutabilityExclusionFilters"]) == (
        server.account, "put/settings", "MUTABLE_WITH_EXCLUSION", filters)
    scanned = client.put_image_scanning_configuration(
        repositoryName="put/settings", imageScanningConfiguration={"scanOnPush": True})
    assert scanned["imageScanningConfiguration"] == {"scanOnPush": True}
    [repo] = client.describe_repositories(repositoryNames=["put/settings"])["repositories"]
    assert repo["imageTagMutabilityExclusionFilters"] == filters
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    client.put_image_tag_mutability(repositoryName="put/settings", imageTagMutability="IMMUTABLE")
    [repo] = client.describe_repositories(repositoryNames=["put/settings"])["repositories"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repo
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_image_tag_mutability(repositoryName="put/settings",
                                        imageTagMutability="IMMUTABLE_WITH_EXCLUSION")
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.put_image_tag_mutability(repositoryName="put/absent", imageTagMutability="MUTABLE")
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.put_image_scanning_configuration(
            repositoryName="put/absent", imageScanningConfiguration={"scanOnPush": False})


def test_resource_tags(server):
    client = server.client()
    arn = client.create_repository(repositoryName="tags/r")["repository"]["repositoryArn"]
    client.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"},
                                               {"Key": "b", "Value": "2"}])
    client.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "one"}])
    client.untag_resource(resourceArn=arn, tagKeys=["b", "never-set"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "a", "Value": "one"}]
    with pytest.raises(client.exceptions.InvalidTagParameterException):
        client.tag_resource(resourceArn=arn, tags=[{"Key": "aws:x", "Value": "1"}])
    with pytest.raises(client.exceptions.InvalidTagParameterException):
        client.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v" * 257}])
    with pytest.raises(client.exceptions.TooManyTagsException):
        client.tag_resource(resourceArn=arn,
                            tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert len(client.list_tags_for_resource(resourceArn=arn)["tags"]) == 1
    missing = arn.replace("tags/r", "tags/absent")
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.list_tags_for_resource(resourceArn=missing)
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.tag_resource(resourceArn=missing, tags=[{"Key": "a", "Value": "1"}])
    for bad in ("not-an-arn", f"arn:aws:ecr:{REGION}:{server.account}:registry/x",
                arn.replace(REGION, "eu-west-1")):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.list_tags_for_resource(resourceArn=bad)


def test_kms_keys_are_looked_up_in_the_key_store(server):
    client, keys = server.client(), server.state.registry.encryption.keys.service
    disabled = keys.create(server.account, REGION)
    keys.set_enabled(server.account, REGION, disabled.id, False)
    refused = [("00000000-0000-4000-8000-000000000000", "NotFoundException"),
               (disabled.arn, "DisabledException")]
    for key, kms_error in refused:
        with pytest.raises(client.exceptions.KmsException) as caught:
            client.create_repository(repositoryName="kms/refused", encryptionConfiguration={
                "encryptionType": "KMS", "kmsKey": key})
        assert caught.value.response["kmsError"] == kms_error
    elsewhere = keys.create(server.account, "eu-west-1")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.create_repository(repositoryName="kms/refused", encryptionConfiguration={
            "encryptionType": "KMS", "kmsKey": elsewhere.arn})
    _assert_missing(client, "kms/refused")
    made = client.create_repository(repositoryName="kms/default", encryptionConfiguration={
        "encryptionType": "KMS_DSSE"})["repository"]
    managed = keys.describe(server.account, REGION, "alias/aws/ecr")
    assert made["encryptionConfiguration"] == {"encryptionType": "KMS_DSSE",
                                               "kmsKey": managed.arn}
