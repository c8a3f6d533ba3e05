"""Repository creation templates through the ECR API (boto3 and the aws CLI against the full
app), and create on push over the registry protocol: a push makes a missing repository only
where a CREATE_ON_PUSH template covers it and the pusher may ecr:CreateRepository."""
from __future__ import annotations

import base64
import json
import subprocess
from datetime import datetime

import pytest
import requests

from tests.support.oci_push import OCI_MANIFEST, digest_of, push_blob
from tests.unit.api.ecr.support import REGION, code_of, message_of, server_fixture
from tests.unit.api.ecr.test_real_clients import AWS_CLI

server = server_fixture("ecr-templates")

LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 14},
    "action": {"type": "expire"}}]})


def _own_account(server, name: str):
    """A new account and a user of it allowed ecr:*."""
    account = server.state.iam.identities.create_account(name).id
    return account, server.account_user(account, "dev")


# -- the operations ---------------------------------------------------------------------------
def test_create_describe_update_delete(server):
    account, key = _own_account(server, "tpl-crud")
    client = server.client(key)
    made = client.create_repository_creation_template(
        prefix="team", description="team repositories", appliedFor=["REPLICATION"],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        resourceTags=[{"Key": "env", "Value": "dev"}], lifecyclePolicy=LIFECYCLE)
    template = made["repositoryCreationTemplate"]
    assert made["registryId"] == account
    assert template["prefix"] == "team" and template["appliedFor"] == ["REPLICATION"]
    assert template["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert template["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "latest"}]
    assert template["resourceTags"] == [{"Key": "env", "Value": "dev"}]
    assert json.loads(template["lifecyclePolicy"]) == json.loads(LIFECYCLE)
    assert isinstance(template["createdAt"], datetime)
    assert "repositoryPolicy" not in template and "customRoleArn" not in template

    listed = client.describe_repository_creation_templates()["repositoryCreationTemplates"]
    assert listed == [template]
    updated = client.update_repository_creation_template(
        prefix="team", appliedFor=["REPLICATION", "CREATE_ON_PUSH"], lifecyclePolicy="",
        imageTagMutability="MUTABLE")["repositoryCreationTemplate"]
    assert updated["appliedFor"] == ["REPLICATION", "CREATE_ON_PUSH"]
    assert "lifecyclePolicy" not in updated  # an empty text clears it
    assert updated["imageTagMutability"] == "MUTABLE"
    assert updated["resourceTags"] == template["resourceTags"]  # not named: kept
    assert updated["updatedAt"] >= template["updatedAt"]
    deleted = client.delete_repository_creation_template(prefix="team")
    assert deleted["repositoryCreationTemplate"] == updated
    assert client.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


def test_errors_are_named_as_the_model_names_them(server):
    _, key = _own_account(server, "tpl-errors")
    client = server.client(key)
    client.create_repository_creation_template(prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
    with pytest.raises(client.exceptions.TemplateAlreadyExistsException):
        client.create_repository_creation_template(prefix="ROOT",
                                                   appliedFor=["REPLICATION"])
    for call in (client.update_repository_creation_template,
                 client.delete_repository_creation_template):
        with pytest.raises(client.exceptions.TemplateNotFoundException) as caught:
            call(prefix="absent")
        assert "'absent'" in message_of(caught)
    for bad in ({"prefix": "Upper", "appliedFor": ["REPLICATION"]},
                {"prefix": "team", "appliedFor": []},
                {"prefix": "team", "appliedFor": ["REPLICATION"], "repositoryPolicy": "{"},
                {"prefix": "team", "appliedFor": ["REPLICATION"], "lifecyclePolicy": "{}"},
                {"prefix": "team", "appliedFor": ["REPLICATION"],
                 "resourceTags": [{"Key": "aws:reserved", "Value": "x"}]},
                {"prefix": "team", "appliedFor": ["REPLICATION"],
                 "encryptionConfiguration": {"encryptionType": "AES256",
                                             "kmsKey": "arn:aws:kms:us-east-1:111111111111:"
                                                       "key/abc"}}):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.create_repository_creation_template(**bad)
    assert [t["prefix"] for t in client.describe_repository_creation_templates()[
        "repositoryCreationTemplates"]] == ["ROOT"]


def test_describe_pages_and_filters(server):
    _, key = _own_account(server, "tpl-pages")
    client = server.client(key)
    prefixes = [f"team{n}" for n in range(5)]
    for prefix in prefixes:
        client.create_repository_creation_template(prefix=prefix, appliedFor=["REPLICATION"])
    seen, token = [], None
    while True:
        page = client.describe_repository_creation_templates(
            maxResults=2, **({"nextToken": token} if token else {}))
        seen += [t["prefix"] for t in page["repositoryCreationTemplates"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == prefixes
    paginator = client.get_paginator("describe_repository_creation_templates")
    assert [t["prefix"] for p in paginator.paginate(prefixes=["team3", "team1"])
            for t in p["repositoryCreationTemplates"]] == ["team1", "team3"]


def test_managing_templates_needs_the_rights_they_use(server):
    only_templates = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["ecr:*RepositoryCreationTemplate*"], "Resource": "*"}]}
    key = server.user("tpl-no-create", only_templates)
    client = server.client(key)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.create_repository_creation_template(prefix="x", appliedFor=["REPLICATION"])
    assert code_of(caught) == "AccessDeniedException"
    assert "ecr:CreateRepository" in message_of(caught)
    with_create = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["ecr:*RepositoryCreationTemplate*",
                                      "ecr:CreateRepository"], "Resource": "*"}]}
    client = server.client(server.user("tpl-create", with_create))
    client.create_repository_creation_template(prefix="tpl-rights",
                                               appliedFor=["REPLICATION"])
    with pytest.raises(client.exceptions.ClientError) as caught:  # and the policy it sets
        client.update_repository_creation_template(prefix="tpl-rights",
                                                   lifecyclePolicy=LIFECYCLE)
    assert "ecr:PutLifecyclePolicy" in message_of(caught)
    client.delete_repository_creation_template(prefix="tpl-rights")


def test_the_aws_cli(server):
    env = {"AWS_ACCESS_KEY_ID": server.admin.id, "AWS_SECRET_ACCESS_KEY": server.admin.secret,
           "AWS_DEFAULT_REGION": REGION, "PATH": "/usr/bin:/bin"}
    base = [str(AWS_CLI), "--endpoint-url", server.url, "ecr", "--output", "json"]
    made = subprocess.run([*base, "create-repository-creation-template", "--prefix", "cli",
                           "--applied-for", "PULL_THROUGH_CACHE", "REPLICATION"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["repositoryCreationTemplate"]["appliedFor"] == [
        "PULL_THROUGH_CACHE", "REPLICATION"]
    shown = subprocess.run([*base, "describe-repository-creation-templates", "--prefixes",
                            "cli"], env=env, capture_output=True, text=True, timeout=120)
    assert [t["prefix"] for t in json.loads(shown.stdout)["repositoryCreationTemplates"]] == [
        "cli"]
    subprocess.run([*base, "delete-repository-creation-template", "--prefix", "cli"],
                   env=env, check=True, capture_output=True, timeout=120)


# -- create on push ---------------------------------------------------------------------------
def _session(server, key) -> requests.Session:
    data = server.client(key).get_authorization_token()["authorizationData"][0]
    session = requests.Session()
    session.trust_env = False
    session.auth = tuple(base64.b64decode(data["authorizationToken"]).decode().split(":", 1))
    return session


def _push(server, session, repository: str) -> requests.Response:
    """An image of one layer; the manifest's response (the blobs' must succeed)."""
    config = b'{"architecture":"amd64","os":"linux"}'
    for data in (config, b"layer of " + repository.encode()):
        push_blob(session, server.url, repository, data)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(b"layer of " + repository.encode()),
                    "size": len(b"layer of " + repository.encode())}]})
    return session.put(f"{server.url}/v2/{repository}/manifests/v1", data=manifest,
                       headers={"Content-Type": OCI_MANIFEST}, timeout=30)


def test_the_first_start_lets_the_administrators_pushes_create(server):
    described = server.client().describe_repository_creation_templates()
    root = described["repositoryCreationTemplates"]
    assert [(t["prefix"], t["appliedFor"]) for t in root] == [("ROOT", ["CREATE_ON_PUSH"])]
    assert _push(server, _session(server, server.admin), "first/app").status_code == 201
    server.client().describe_repositories(repositoryNames=["first/app"])


def test_no_template_no_repository(server):
    account, key = _own_account(server, "cop-none")
    session = _session(server, key)
    started = session.post(f"{server.url}/v2/team/app/blobs/uploads/", timeout=30)
    assert started.status_code == 404
    error = started.json()["errors"][0]
    assert (error["code"], error["message"]) == (
        "NAME_UNKNOWN", f"The repository with name 'team/app' does not exist in the registry "
                        f"with id '{account}'")


def test_a_template_and_the_right_to_create(server):
    account, root_key = _own_account(server, "cop-rights")
    server.client(root_key).create_repository_creation_template(
        prefix="team", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "made-by", "Value": "push"}])
    push_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:PutImage",
        "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
        "ecr:BatchGetImage"], "Resource": "*"}]}
    pusher = server.account_user(account, "pusher", json.dumps(push_only))
    session = _session(server, pusher)
    # May push, may not create: refused by IAM, naming the action; nothing made.
    refused = session.post(f"{server.url}/v2/team/app/blobs/uploads/", timeout=30)
    assert refused.status_code == 403
    error = refused.json()["errors"][0]
    assert error["code"] == "DENIED" and "ecr:CreateRepository" in error["message"]
    manifest = session.put(f"{server.url}/v2/team/app/manifests/v1", data=b"{}",
                           headers={"Content-Type": OCI_MANIFEST}, timeout=30)
    assert manifest.status_code in (400, 403)  # never a repository made
    admin = server.client(root_key)
    with pytest.raises(admin.exceptions.RepositoryNotFoundException):
        admin.describe_repositories(repositoryNames=["team/app"])
    # Allowed to create: the push makes it, with the template's settings.
    creator = server.account_user(account, "creator", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            *push_only["Statement"][0]["Action"], "ecr:CreateRepository"],
            "Resource": "*"}]}))
    assert _push(server, _session(server, creator), "team/app").status_code == 201
    made = admin.describe_repositories(repositoryNames=["team/app"])["repositories"][0]
    assert made["imageTagMutability"] == "IMMUTABLE"
    arn = made["repositoryArn"]
    assert admin.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "made-by", "Value": "push"}]
    # Now it exists: the pusher without the right to create pushes to it.
    assert _push(server, session, "team/app").status_code == 201
    # Outside the template's prefix nobody's push creates.
    outside = _session(server, creator).post(f"{server.url}/v2/other/app/blobs/uploads/",
                                             timeout=30)
    assert outside.status_code == 404


def test_the_ecr_api_never_creates(server):
    _, key = _own_account(server, "cop-api")
    client = server.client(key)
    client.create_repository_creation_template(prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.initiate_layer_upload(repositoryName="api/app")
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.put_image(repositoryName="api/app", imageManifest="{}")
    assert code_of(caught) in ("RepositoryNotFoundException", "InvalidParameterException")
    assert client.describe_repositories()["repositories"] == []
