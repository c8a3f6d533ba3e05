"""What an ECR call addressing another account's registry (``registryId``, a repository ARN)
learns: nothing about which accounts, registries or repositories exist there. A missing
account answers exactly as an existing one the caller may not use, byte for byte but for
the request id."""
from __future__ import annotations

import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.iam.tenancy import RegistryAddress
from tests.support.registry_images import push_image
from tests.support.repositories import pushes_create
from tests.unit.api.ecr.support import REGION, server_fixture

server = server_fixture("ecr-access")

TARGET = "AmazonEC2ContainerRegistry_V20150921."
MISSING = "999999999999"
ACCOUNT = "<account>"
# Operation -> its parameters in the registry of ACCOUNT.
CALLS = {
    "DescribeRepositories": {"registryId": ACCOUNT},
    "DescribeRepositories-named": {"registryId": ACCOUNT, "repositoryNames": ["web"]},
    "ListImages": {"registryId": ACCOUNT, "repositoryName": "web"},
    "BatchGetImage": {"registryId": ACCOUNT, "repositoryName": "web",
                      "imageIds": [{"imageTag": "v1"}]},
    "CreateRepository": {"registryId": ACCOUNT, "repositoryName": "new"},
    "DeleteRepository": {"registryId": ACCOUNT, "repositoryName": "web", "force": True},
    "GetRepositoryPolicy": {"registryId": ACCOUNT, "repositoryName": "web"},
    "InitiateLayerUpload": {"registryId": ACCOUNT, "repositoryName": "web"},
    "ListTagsForResource": {
        "resourceArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/web"},
}


@pytest.fixture(scope="module")
def world(server):
    """An account whose registry holds ``web``, one with no registry yet, and a stranger
    allowed every ECR action by its own policy (which reaches no other account)."""
    iam = server.state.iam
    made, unmade = (iam.identities.create_account(n).id for n in ("made", "unmade"))
    registry = server.state.registry.scoped(iam.registry_id(RegistryAddress(made, REGION)))
    pushes_create(registry.db, registry.registry_id)
    push_image(registry, "web", "v1")
    _, stranger = server.account_with_user("stranger")
    return {"made": made, "unmade": unmade, "missing": MISSING, "stranger": stranger}


def _answer(server, key, operation: str, params: dict, account: str) -> tuple:
    data = json.dumps(params).replace(ACCOUNT, account).encode()
    request = AWSRequest("POST", server.url + "/", data=data, headers={
        "X-Amz-Target": TARGET + operation.split("-")[0],
        "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(key.id, key.secret), "ecr", REGION).add_auth(request)
    response = requests.post(server.url + "/", data=data, headers=dict(request.headers),
                             timeout=30)
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("x-amzn-requestid", "x-request-id", "date",
                                    "content-length")}
    return response.status_code, headers, response.content.replace(account.encode(),
                                                                   ACCOUNT.encode())


@pytest.mark.parametrize("operation", list(CALLS))
def test_a_missing_account_answers_as_an_existing_one(server, world, operation):
    answers = {which: _answer(server, world["stranger"], operation, CALLS[operation],
                              world[which]) for which in ("made", "unmade", "missing")}
    if operation == "DescribeRepositories":  # a listing, filtered: empty
        assert answers["made"][:1] == (200,) and json.loads(answers["made"][2]) == {
            "repositories": []}
    else:
        assert json.loads(answers["made"][2])["__type"] == "AccessDeniedException"
    assert answers["unmade"] == answers["made"]
    assert answers["missing"] == answers["made"]
