"""IAM roles (berth/iam/roles.py) on both databases: made with a trust policy (a
resource-based policy: it must name principals), names unique regardless of case, IAM's
MaxSessionDuration range and role quota, inline policies, updates, deletion; every change
bumps the iam generation so nodes forget what they derived."""
from __future__ import annotations

import json

import pytest

from berth.iam import roles as roles_module
from berth.iam.identities import IdentityError
from berth.iam.policy import PolicyError
from berth.iam.roles import RoleService

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "sts:AssumeRole"}]})
PULL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]})


@pytest.fixture
def roles(db):
    return RoleService(db)


@pytest.fixture
def account(identities):
    return identities.create_account("team-a")


def test_a_role_is_made_listed_and_shown(roles, account, iam_generation):
    before = iam_generation()
    role = roles.create(account.id, "ci-pusher", TRUST, path="/ci/", description="CI")
    assert role.id.startswith("AROA") and role.max_session_seconds == 3600
    assert role.arn == f"arn:aws:iam::{account.id}:role/ci/ci-pusher"
    assert roles.get(account.id, "ci-pusher") == role
    assert roles.list(account.id) == [role]
    assert iam_generation() == before + 1


def test_names_are_unique_regardless_of_case(roles, account):
    roles.create(account.id, "Builder", TRUST)
    with pytest.raises(IdentityError) as again:
        roles.create(account.id, "builder", TRUST)
    assert again.value.code == "EntityAlreadyExists"


@pytest.mark.parametrize("name, options, code", [
    ("bad name", {}, "ValidationError"),
    ("x" * 65, {}, "ValidationError"),
    ("ok", {"path": "no-slashes"}, "ValidationError"),
    ("ok", {"max_session_seconds": 3599}, "ValidationError"),
    ("ok", {"max_session_seconds": 43201}, "ValidationError"),
    ("ok", {"description": "d" * 1001}, "ValidationError"),
])
def test_invalid_roles_are_refused(roles, account, name, options, code):
    with pytest.raises(IdentityError) as refused:
        roles.create(account.id, name, TRUST, **options)
    assert refused.value.code == code
    assert roles.list(account.id) == []


def test_a_trust_policy_must_name_principals(roles, account):
    with pytest.raises(PolicyError):
        roles.create(account.id, "r", PULL)  # an identity policy: no Principal
    with pytest.raises(PolicyError):
        roles.create(account.id, "r", "{")
    with pytest.raises(IdentityError) as long:
        roles.create(account.id, "r", TRUST[:-2] + " " * 2048 + "]}")
    assert long.value.code == "LimitExceeded"


def test_the_role_quota(roles, account, monkeypatch):
    monkeypatch.setattr(roles_module, "ROLES_PER_ACCOUNT", 2)
    roles.create(account.id, "a", TRUST)
    roles.create(account.id, "b", TRUST)
    with pytest.raises(IdentityError) as refused:
        roles.create(account.id, "c", TRUST)
    assert refused.value.code == "LimitExceeded"


def test_updates_change_what_is_given(roles, account):
    roles.create(account.id, "r", TRUST, description="first")
    other = TRUST.replace("111122223333", "444455556666")
    changed = roles.update(account.id, "r", trust_policy=other)
    assert changed.trust_policy == other and changed.description == "first"
    changed = roles.update(account.id, "r", max_session_seconds=43200)
    assert roles.get(account.id, "r") == changed and changed.max_session_seconds == 43200
    with pytest.raises(PolicyError):
        roles.update(account.id, "r", trust_policy=PULL)


def test_inline_policies(roles, account, iam_generation):
    roles.create(account.id, "r", TRUST)
    before = iam_generation()
    roles.put_policy(account.id, "r", "pull", PULL)
    assert roles.policies(account.id, "r") == {"pull": json.loads(PULL)}
    with pytest.raises(PolicyError):
        roles.put_policy(account.id, "r", "bad", TRUST)  # names a principal
    roles.delete_policy(account.id, "r", "pull")
    with pytest.raises(IdentityError) as gone:
        roles.delete_policy(account.id, "r", "pull")
    assert gone.value.code == "NoSuchEntity"
    assert iam_generation() == before + 2


def test_deleting_a_role_deletes_its_policies(roles, account):
    roles.create(account.id, "r", TRUST)
    roles.put_policy(account.id, "r", "pull", PULL)
    roles.delete(account.id, "r")
    with pytest.raises(IdentityError) as gone:
        roles.get(account.id, "r")
    assert gone.value.code == "NoSuchEntity"
    again = roles.create(account.id, "r", TRUST)
    assert roles.policies(account.id, "r") == {} and again.id


def test_roles_of_an_unknown_account(roles):
    with pytest.raises(IdentityError) as unknown:
        roles.create("999999999999", "r", TRUST)
    assert unknown.value.code == "NoSuchEntity"
