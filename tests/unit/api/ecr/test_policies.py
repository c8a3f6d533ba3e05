"""Repository policies through the ECR API: boto3 against the full app served by uvicorn,
signed with keys Berth made. ``full_app`` and ``Server`` serve the other ECR API tests too."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from berth.app import create_app
from berth.config import Settings
from berth.registry.repositories import create_on_push
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.credentials import AccessKey, admin_key
from tests.unit.api.ecr.test_real_clients import serving

REGION = "us-east-1"
ALLOW_ECR = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})


def grant(principal: str, action="ecr:*", effect="Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "s", "Effect": effect, "Principal": {"AWS": principal}, "Action": action}]})


@dataclass
class Server:
    url: str
    app: object
    admin: AccessKey

    @property
    def state(self):
        return self.app.app.state

    @property
    def admin_account(self) -> str:
        return self.state.iam.identities.admin_account().id

    def client(self, key: AccessKey | None = None, region: str = REGION, **config):
        key = key or self.admin
        return boto3.session.Session().client(
            "ecr", endpoint_url=self.url, region_name=region, aws_access_key_id=key.id,
            aws_secret_access_key=key.secret,
            config=Config(retries={"max_attempts": 1}, **config))

    def repository(self, name: str) -> None:
        """In the administrator's registry, made as a first push makes it (idempotent)."""
        with self.state.registry.db.write() as tx:
            create_on_push(tx, self.state.registry.registry_id, name)

    def user(self, account: str, name: str, policy: str | None = ALLOW_ECR) -> AccessKey:
        identities = self.state.iam.identities
        identities.create_user(account, name)
        if policy:
            identities.put_user_policy(account, name, "ecr", policy)
        made = identities.create_access_key(account, name)
        return AccessKey(made.id, made.secret)

    def account_with_user(self, name: str) -> tuple[str, AccessKey]:
        account = self.state.iam.identities.create_account(name).id
        return account, self.user(account, "dev")


@contextlib.contextmanager
def full_app(data_dir: Path) -> Iterator[Server]:
    """The whole application on a fresh data directory, served on a loopback port."""
    settings = Settings(data_dir=data_dir)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    db.dispose()
    app = create_app(settings, run_jobs=False)
    try:
        with serving(app) as url:
            yield Server(url, app, admin_key(data_dir))
    finally:
        app.app.state.registry.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with full_app(tmp_path_factory.mktemp("ecr-policies")) as found:
        yield found


def _code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def _message(caught) -> str:
    return caught.value.response["Error"]["Message"]


# -- repository policies -------------------------------------------------------------------
def test_set_get_delete_repository_policy(server):
    server.repository("pol/basic")
    client = server.client()
    text = grant("arn:aws:iam::111122223333:root", ["ecr:BatchGetImage"])
    done = client.set_repository_policy(repositoryName="pol/basic", policyText=text)
    assert (done["registryId"], done["repositoryName"], done["policyText"]) == (
        server.admin_account, "pol/basic", text)
    assert client.get_repository_policy(repositoryName="pol/basic")["policyText"] == text
    deleted = client.delete_repository_policy(repositoryName="pol/basic")
    assert deleted["policyText"] == text and deleted["registryId"] == server.admin_account
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException) as caught:
        client.get_repository_policy(repositoryName="pol/basic")
    assert _message(caught) == (
        "Repository policy does not exist for the repository with name 'pol/basic' in the "
        f"registry with id '{server.admin_account}'")
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.delete_repository_policy(repositoryName="pol/basic")


def test_a_missing_repository_is_not_found(server):
    client = server.client()
    for call in (lambda: client.get_repository_policy(repositoryName="pol/none"),
                 lambda: client.delete_repository_policy(repositoryName="pol/none"),
                 lambda: client.set_repository_policy(repositoryName="pol/none",
                                                      policyText=grant("*"))):
        with pytest.raises(client.exceptions.RepositoryNotFoundException) as caught:
            call()
        assert _message(caught) == (
            "The repository with name 'pol/none' does not exist in the registry with id "
            f"'{server.admin_account}'")


@pytest.mark.parametrize("text, where", [
    ("{not json", "not valid JSON"),
    (ALLOW_ECR, "Statement[0]: needs a Principal"),
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}]}), "Statement[0].Effect"),
    ("", "not valid JSON"),
])
def test_a_malformed_repository_policy_says_what_and_where(server, text, where):
    server.repository("pol/malformed")
    client = server.client()
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.set_repository_policy(repositoryName="pol/malformed", policyText=text)
    message = _message(caught)
    assert message.startswith("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                              "'Invalid repository policy provided: ")
    assert where in message


def test_a_policy_locking_the_caller_out_needs_force(server):
    server.repository("pol/lockout")
    dev = server.user(server.admin_account, "lockout-dev")
    client = server.client(dev)
    me = f"arn:aws:iam::{server.admin_account}:user/lockout-dev"
    lockout = grant(me, "ecr:SetRepositoryPolicy", effect="Deny")
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.set_repository_policy(repositoryName="pol/lockout", policyText=lockout)
    assert "prevent you from setting a repository policy" in _message(caught)
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.get_repository_policy(repositoryName="pol/lockout")  # nothing was stored
    client.set_repository_policy(repositoryName="pol/lockout", policyText=lockout, force=True)
    # Now it binds, at once: the caller may not set (or lift) it any more; the admin may.
    with pytest.raises(ClientError) as caught:
        client.set_repository_policy(repositoryName="pol/lockout", policyText=grant("*"),
                                     force=True)
    assert _code(caught) == "AccessDeniedException"
    assert "explicit deny in a resource-based policy" in _message(caught)
    server.client().delete_repository_policy(repositoryName="pol/lockout")
    client.set_repository_policy(repositoryName="pol/lockout", policyText=grant("*"))


def test_a_missing_repository_comes_before_the_lockout(server):
    client = server.client(server.user(server.admin_account, "lockout-missing"))
    me = f"arn:aws:iam::{server.admin_account}:user/lockout-missing"
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.set_repository_policy(repositoryName="pol/absent",
                                     policyText=grant(me, "ecr:*", effect="Deny"))


def test_the_action_is_authorized(server):
    server.repository("pol/authz")
    client = server.client(server.user(server.admin_account, "reader", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetRepositoryPolicy", "Resource": "*"}]})))
    with pytest.raises(ClientError) as caught:
        client.set_repository_policy(repositoryName="pol/authz", policyText=grant("*"))
    assert _code(caught) == "AccessDeniedException"
    assert "ecr:SetRepositoryPolicy" in _message(caught)
    with pytest.raises(client.exceptions.RepositoryPolicyNotFoundException):
        client.get_repository_policy(repositoryName="pol/authz")


def test_cross_account_needs_the_repository_policy(server):
    server.repository("pol/shared")
    other, key = server.account_with_user("team-b")
    client = server.client(key)
    owner = server.admin_account
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert _code(caught) == "AccessDeniedException"
    assert _message(caught) == (
        f"User: arn:aws:iam::{other}:user/dev is not authorized to perform: "
        f"ecr:GetRepositoryPolicy on resource: arn:aws:ecr:{REGION}:{owner}:repository/"
        "pol/shared because no resource-based policy allows the ecr:GetRepositoryPolicy "
        "action")
    text = grant(f"arn:aws:iam::{other}:root", ["ecr:GetRepositoryPolicy"])
    server.client().set_repository_policy(repositoryName="pol/shared", policyText=text)
    got = client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert got["registryId"] == owner and got["policyText"] == text
    # Its own registry is untouched: the same name there does not exist.
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.get_repository_policy(repositoryName="pol/shared")
    server.client().delete_repository_policy(repositoryName="pol/shared")
    with pytest.raises(ClientError) as caught:
        client.get_repository_policy(registryId=owner, repositoryName="pol/shared")
    assert _code(caught) == "AccessDeniedException"
