"""STS on the API port, through boto3 against the full app (both databases): who is calling,
AssumeRole and GetSessionToken giving credentials every API then takes (ECR's, registry
tokens from GetAuthorizationToken that never outlive them, pushes and pulls), STS's errors as
botocore parses them, and the ECR API still answering on the same path."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import boto3
import botocore
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("sts")
CONFIG = Config(retries={"max_attempts": 1})


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _sts(server, key=None, session_token=None, config=CONFIG, **credentials):
    key = key or server.admin
    return boto3.session.Session().client(
        "sts", endpoint_url=server.url, region_name=REGION, config=config,
        aws_access_key_id=credentials.get("AccessKeyId", key.id),
        aws_secret_access_key=credentials.get("SecretAccessKey", key.secret),
        aws_session_token=credentials.get("SessionToken", session_token))


def _ecr(server, credentials: dict):
    return boto3.session.Session().client(
        "ecr", endpoint_url=server.url, region_name=REGION, config=CONFIG,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"])


@pytest.fixture(scope="module")
def role(server):
    """A role of the administrator's account that its users may take on, allowed to pull
    and list; and a user allowed to assume it."""
    iam = server.state.iam
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": server.account},
                     "Action": "sts:AssumeRole"})
    made = iam.roles.create(server.account, "puller", trust)
    iam.roles.put_policy(server.account, "puller", "pull", _policy({
        "Effect": "Allow", "Resource": "*", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:DescribeRepositories",
            "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}))
    key = server.user("assumer", _policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                                          "Resource": made.arn}))
    return made, key


def test_get_caller_identity_names_the_caller(server):
    found = _sts(server).get_caller_identity()
    assert found["Account"] == server.account
    assert found["Arn"] == f"arn:aws:iam::{server.account}:root"
    assert found["UserId"] == server.account


def test_assumed_role_credentials_work_on_the_ecr_api(server, role):
    made, key = role
    answer = _sts(server, key).assume_role(RoleArn=made.arn, RoleSessionName="ci-42",
                                           DurationSeconds=900)
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{server.account}:assumed-role/puller/ci-42")
    assert 800 < (credentials["Expiration"] - datetime.now(timezone.utc)).total_seconds() <= 900
    who = _sts(server, **credentials).get_caller_identity()
    assert who["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert who["UserId"] == answer["AssumedRoleUser"]["AssumedRoleId"]
    ecr = _ecr(server, credentials)
    ecr.describe_repositories()
    with pytest.raises(ClientError) as denied:
        ecr.create_repository(repositoryName="not-allowed")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "assumed-role/puller/ci-42" in denied.value.response["Error"]["Message"]
    data = ecr.get_authorization_token()["authorizationData"][0]
    assert data["expiresAt"] <= credentials["Expiration"]  # never outlives them


def test_a_registry_token_of_assumed_credentials_pulls(server, role):
    made, key = role
    digest = server.push("sts/app", "v1", b"pulled with a role's token")
    credentials = _sts(server, key).assume_role(RoleArn=made.arn,
                                                RoleSessionName="pull")["Credentials"]
    token = base64.b64decode(_ecr(server, credentials).get_authorization_token()[
        "authorizationData"][0]["authorizationToken"]).decode()
    user, _, password = token.partition(":")
    pulled = requests.get(f"{server.url}/v2/sts/app/manifests/v1", auth=(user, password),
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                          timeout=30)
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == digest
    pushed = requests.put(f"{server.url}/v2/sts/app/manifests/v2", auth=(user, password),
                          data=pulled.content, timeout=30, headers={
                              "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert pushed.status_code == 403  # the role may not push


def test_credentials_without_their_session_token_are_refused(server, role):
    made, key = role
    credentials = _sts(server, key).assume_role(RoleArn=made.arn,
                                                RoleSessionName="session")["Credentials"]
    wrong = {**credentials, "SessionToken": credentials["SessionToken"][:-4] + "AAAA"}
    for sent in (wrong, {**credentials, "SessionToken": None}):
        with pytest.raises(ClientError) as refused:
            _sts(server, **sent).get_caller_identity()
        assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_sts_errors_as_botocore_parses_them(server, role):
    made, _ = role
    stranger = server.user("stranger", _policy({"Effect": "Allow", "Action": "ecr:*",
                                                "Resource": "*"}))
    with pytest.raises(ClientError) as denied:
        _sts(server, stranger).assume_role(RoleArn=made.arn, RoleSessionName="xx")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDenied" and error["Type"] == "Sender"
    assert f"user/stranger is not authorized to perform: sts:AssumeRole on resource: " \
           f"{made.arn}" in error["Message"]
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as short:
        _sts(server, config=CONFIG.merge(Config(parameter_validation=False))).assume_role(
            RoleArn=made.arn, RoleSessionName="xx", DurationSeconds=899)
    assert short.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as long:
        _sts(server, role[1]).assume_role(RoleArn=made.arn, RoleSessionName="xx",
                                          DurationSeconds=7200)
    assert "MaxSessionDuration" in long.value.response["Error"]["Message"]


def test_a_users_session_token(server, role):
    _, key = role
    credentials = _sts(server, key).get_session_token(DurationSeconds=900)["Credentials"]
    who = _sts(server, **credentials).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{server.account}:user/assumer"
    with pytest.raises(ClientError) as again:
        _sts(server, **credentials).get_session_token()
    assert again.value.response["Error"]["Code"] == "AccessDenied"
    assert _sts(server).get_access_key_info(AccessKeyId=credentials["AccessKeyId"])[
        "Account"] == server.account


def test_bad_signatures_and_unknown_actions(server):
    bad = type(server.admin)(server.admin.id, "wrong" + server.admin.secret[5:])
    with pytest.raises(ClientError) as refused:
        _sts(server, bad).get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as unserved:
        _sts(server).get_federation_token(Name="someone")
    assert unserved.value.response["Error"]["Code"] == "InvalidAction"


def test_the_ecr_api_still_answers_on_the_same_path(server):
    assert "repositories" in server.client().describe_repositories()


def test_a_web_identity_token_is_exchanged_unsigned(server):
    from tests.support.oidc_issuer import OidcIssuer
    iam = server.state.iam
    iam.providers.loopback_issuers = True  # BERTH_OIDC_LOOPBACK_ISSUERS: the issuer is local
    with OidcIssuer() as issuer:
        provider = iam.providers.create(server.account, issuer.url, ["sts.amazonaws.com"])
        trust = _policy({"Effect": "Allow", "Principal": {"Federated": provider.arn},
                         "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {
                             "StringEquals": {f"{provider.url}:sub": "ci:builder"}}})
        role = iam.roles.create(server.account, f"web-{id(issuer) % 10**6}", trust)
        anonymous = boto3.session.Session().client(
            "sts", endpoint_url=server.url, region_name=REGION,
            config=CONFIG.merge(Config(signature_version=botocore.UNSIGNED)))
        answer = anonymous.assume_role_with_web_identity(
            RoleArn=role.arn, RoleSessionName="build", WebIdentityToken=issuer.token())
        assert answer["SubjectFromWebIdentityToken"] == "ci:builder"
        assert answer["Provider"] == provider.url
        assert answer["Audience"] == "sts.amazonaws.com"
        who = _sts(server, **answer["Credentials"]).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::{server.account}:assumed-role/{role.name}/build"
        with pytest.raises(ClientError) as refused:
            anonymous.assume_role_with_web_identity(
                RoleArn=role.arn, RoleSessionName="build",
                WebIdentityToken=issuer.token(sub="someone-else"))
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as expired:
            anonymous.assume_role_with_web_identity(
                RoleArn=role.arn, RoleSessionName="build",
                WebIdentityToken=issuer.token(expires_in=-300))
        assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"
        with pytest.raises(ClientError) as unsigned:
            anonymous.get_caller_identity()  # only the web identity action comes unsigned
        assert unsigned.value.response["Error"]["Code"] == "MissingAuthenticationToken"
