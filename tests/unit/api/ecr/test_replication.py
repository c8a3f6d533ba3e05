"""PutReplicationConfiguration and DescribeRegistry through the ECR API (boto3 and the aws CLI
against the full app): the rules as given come back, per registry; ECR's refusals."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.unit.api.ecr.support import REGION, code_of, message_of, server_fixture
from tests.unit.api.ecr.test_real_clients import AWS_CLI

server = server_fixture("ecr-replication")

RULES = [{"destinations": [{"region": REGION, "registryId": "123456789012"}],
          "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]},
         {"destinations": [{"region": REGION, "registryId": "123456789013"}],
          "deleteReplication": {"enabled": False}}]


def test_put_then_describe(server):
    account, key = server.account_with_user("replication-a")
    client = server.client(key)
    put = client.put_replication_configuration(replicationConfiguration={"rules": RULES})
    assert put["replicationConfiguration"] == {"rules": RULES}
    described = client.describe_registry()
    assert described == {**described, "registryId": account,
                         "replicationConfiguration": {"rules": RULES}}
    # Per registry: the administrator's is untouched.
    assert server.client().describe_registry()["replicationConfiguration"] == {"rules": []}
    client.put_replication_configuration(replicationConfiguration={"rules": []})
    assert client.describe_registry()["replicationConfiguration"] == {"rules": []}


@pytest.mark.parametrize("destination, says", [
    ({"region": REGION, "registryId": "SELF"}, "source registry"),
    ({"region": "xx-nowhere-1", "registryId": "123456789012"}, "not served"),
    (None, "at least one destination"),
])
def test_refusals(server, destination, says):
    account, key = server.account_with_user(f"replication-{says.split()[0]}")
    client = server.client(key)
    if destination and destination["registryId"] == "SELF":
        destination = {**destination, "registryId": account}
    rules = [{"destinations": [destination] if destination else []}]
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_replication_configuration(replicationConfiguration={"rules": rules})
    assert says in message_of(caught)
    assert message_of(caught).startswith("Invalid parameter at 'replicationConfiguration'")
    assert client.describe_registry()["replicationConfiguration"] == {"rules": []}


def test_a_filter_of_another_type_is_refused_by_the_model(server):
    client = server.client()
    with pytest.raises(Exception) as caught:
        client.put_replication_configuration(replicationConfiguration={"rules": [{
            "destinations": [{"region": REGION, "registryId": "123456789012"}],
            "repositoryFilters": [{"filter": "prod", "filterType": "WILDCARD"}]}]})
    assert "filterType" in str(caught.value) or code_of(caught) == "InvalidParameterException"


def test_putting_needs_its_own_action(server):
    key = server.user("replication-reader", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:DescribeRegistry", "Resource": "*"}]})
    client = server.client(key)
    client.describe_registry()
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.put_replication_configuration(replicationConfiguration={"rules": []})
    assert code_of(caught) == "AccessDeniedException"
    assert "ecr:PutReplicationConfiguration" in message_of(caught)


def test_the_aws_cli(server):
    env = {"AWS_ACCESS_KEY_ID": server.admin.id, "AWS_SECRET_ACCESS_KEY": server.admin.secret,
           "AWS_DEFAULT_REGION": REGION, "PATH": "/usr/bin:/bin"}
    config = json.dumps({"rules": RULES[:1]})
    done = subprocess.run([str(AWS_CLI), "ecr", "put-replication-configuration",
                           "--replication-configuration", config, "--endpoint-url",
                           server.url, "--output", "json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = subprocess.run([str(AWS_CLI), "ecr", "describe-registry", "--endpoint-url",
                            server.url, "--output", "json"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert json.loads(shown.stdout)["replicationConfiguration"] == {"rules": RULES[:1]}
    subprocess.run([str(AWS_CLI), "ecr", "put-replication-configuration",
                    "--replication-configuration", '{"rules": []}', "--endpoint-url",
                    server.url], env=env, capture_output=True, timeout=120, check=True)
