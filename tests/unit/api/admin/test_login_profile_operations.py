"""Console passwords through the admin API, as IAM's login profiles: created once, updated,
deleted; checked against the password policy's bounds; never returned; authorized as IAM's
actions on the user (an account manages its own users only)."""
from __future__ import annotations

from berth.iam.console import ConsoleSessions
from berth.iam.authentication import Unauthenticated

import pytest


def test_create_update_delete(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    admin_api.iam.identities.create_user(account, "dev")
    params = {"AccountId": account, "UserName": "dev"}
    made = admin_api.call(root, "CreateLoginProfile", {**params, "Password": "first-pass"})
    assert made.status_code == 200 and "first-pass" not in made.text
    again = admin_api.call(root, "CreateLoginProfile", {**params, "Password": "other-pass"})
    assert again.status_code == 409 and again.json()["__type"] == "EntityAlreadyExists"
    sessions = ConsoleSessions(admin_api.iam)
    sessions.sign_in_user(account, "dev", "first-pass")
    assert admin_api.call(root, "UpdateLoginProfile",
                          {**params, "Password": "second-pass"}).status_code == 200
    with pytest.raises(Unauthenticated):
        sessions.sign_in_user(account, "dev", "first-pass")
    sessions.sign_in_user(account, "dev", "second-pass")
    assert admin_api.call(root, "DeleteLoginProfile", params).status_code == 200
    with pytest.raises(Unauthenticated):
        sessions.sign_in_user(account, "dev", "second-pass")
    gone = admin_api.call(root, "DeleteLoginProfile", params)
    assert gone.status_code == 404 and gone.json()["__type"] == "NoSuchEntity"


def test_refusals(admin_api):
    a, b = admin_api.account("a").id, admin_api.account("b").id
    admin_api.iam.identities.create_user(a, "dev")
    short = admin_api.call(admin_api.root_key(a), "CreateLoginProfile",
                           {"AccountId": a, "UserName": "dev", "Password": "short"})
    assert short.status_code == 400 and short.json()["__type"] == "PasswordPolicyViolation"
    other = admin_api.call(admin_api.root_key(b), "CreateLoginProfile",
                           {"AccountId": a, "UserName": "dev", "Password": "long enough"})
    assert other.json()["__type"] == "AccessDeniedException"
    missing = admin_api.call(admin_api.root_key(a), "CreateLoginProfile",
                             {"AccountId": a, "UserName": "nobody", "Password": "long enough"})
    assert missing.status_code == 404
