"""BatchGetRepositoryScanningConfiguration is authorized on each repository it names (its
resource in IAM), not once for the registry: a user allowed on one repository learns nothing
of another by listing both."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.unit.api.ecr.support import REGION, code_of, server_fixture

server = server_fixture("ecr-scanning-access")
ACTION = "ecr:BatchGetRepositoryScanningConfiguration"


def _only_on(account: str, repository: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ACTION,
        "Resource": f"arn:aws:ecr:{REGION}:{account}:repository/{repository}"}]}


def test_each_named_repository_is_authorized(server):
    for name in ("scan-access/mine", "scan-access/theirs"):
        server.repository(name)
    user = server.client(server.user("scan-reader", _only_on(server.account,
                                                             "scan-access/mine")))
    mine = user.batch_get_repository_scanning_configuration(
        repositoryNames=["scan-access/mine"])
    assert [c["repositoryName"] for c in mine["scanningConfigurations"]] == ["scan-access/mine"]
    with pytest.raises(ClientError) as caught:
        user.batch_get_repository_scanning_configuration(
            repositoryNames=["scan-access/mine", "scan-access/theirs"])
    assert code_of(caught) == "AccessDeniedException"
    assert "scan-access/theirs" in json.dumps(caught.value.response["Error"])
