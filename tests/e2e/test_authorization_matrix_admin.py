"""The admin API's authorization matrix: every admin operation times every kind of caller
(tests/support/authorization_world.py), each cell with its exact answer, and a refused call
changes nothing; against a real server. What each cell is called with:
tests/support/admin_matrix.py."""
from __future__ import annotations

import pytest

from berth.quotas.services import QuotaService
from berth.public.services import PublicRegistries
from tests.support.admin_matrix import (
    ADMIN_OPERATIONS,
    ADMIN_TARGET,
    CHAINS,
    kms,
    profile_statuses,
    profiles,
    provider_urls,
    role_names,
    secret_names,
    signs_in,
    site_ids,
    targets,
)
from tests.support.authorization_world import (  # noqa: F401 (world: the fixture)
    API_CALLERS,
    API_EXPECTED,
    World,
    signed,
    world,
)

pytestmark = pytest.mark.e2e


def test_every_admin_operation_is_in_the_matrix():
    from berth.api.admin.table import OPERATIONS as SERVED
    assert set(SERVED) == set(ADMIN_OPERATIONS)


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize("operation", list(ADMIN_OPERATIONS))
def test_admin_operation(world: World, operation: str, caller: str):
    cell = f"{operation}-{caller}".lower()
    body = ADMIN_OPERATIONS[operation](world, cell)
    resp = signed(world, caller, operation, body, path="/admin", target=ADMIN_TARGET,
                   service="berth")
    # bob belongs to another, non-administrator account: the home account is not his.
    expected = API_EXPECTED.get(caller) or ("AccessDeniedException" if caller == "bob" else None)
    if expected is None:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    assert resp.json()["__type"] == expected
    assert set(resp.json()) == {"__type", "message"}  # an error, and nothing else
    _assert_admin_untouched(world, operation, body)


def _assert_admin_untouched(world: World, operation: str, body: dict) -> None:
    ids = world.iam.identities
    home = world.accounts["home"]
    if operation == "CreateUser":
        assert body["UserName"] not in [u.name for u in ids.users(home)]
    elif operation == "CreateAccount":
        assert body["AccountName"] not in [a.name for a in ids.accounts()]
    elif operation in ("DeleteUser", "CreateAccessKey"):
        assert body["UserName"] in [u.name for u in ids.users(home)]
        assert ids.access_keys(home, body["UserName"]) == []
    elif operation in ("UpdateAccessKey", "DeleteAccessKey"):
        keys = [k for u in ids.users(home) for k in ids.access_keys(home, u.name)]
        assert [k.active for k in keys if k.id == body["AccessKeyId"]] == [True]
    elif operation == "PutUserPolicy":
        assert ids.user_policies(home, body["UserName"]) == {}
    elif operation == "DeleteUserPolicy":
        assert "p" in ids.user_policies(home, body["UserName"])
    elif operation == "CreateOpenIDConnectProvider":
        assert body["Url"].split("://")[1] not in provider_urls(world)
    elif operation == "DeleteOpenIDConnectProvider":
        assert body["OpenIDConnectProviderArn"].split("/", 1)[1] in provider_urls(world)
    elif operation == "PutServiceQuota":
        assert {q["QuotaName"]: q["Value"] for q in QuotaService(world.iam.db).effective(
            home)}["ImagesPerRepository"] != int(body["Value"])
    elif operation == "CreateRole":
        assert body["RoleName"] not in role_names(world)
    elif operation == "DeleteRole":
        assert body["RoleName"] in role_names(world)
    elif operation == "UpdateRole":
        assert world.iam.roles.get(home, body["RoleName"]).description is None
    elif operation == "PutRolePolicy":
        assert world.iam.roles.policies(home, body["RoleName"]) == {}
    elif operation == "DeleteRolePolicy":
        assert "p" in world.iam.roles.policies(home, body["RoleName"])
    elif operation == "PutEventTarget":
        assert body["Name"] not in [t.name for t in targets(world).list(home)]
    elif operation == "DeleteEventTarget":
        assert body["Name"] in [t.name for t in targets(world).list(home)]
    elif operation == "PutSecret":
        assert body["Name"] not in secret_names(world)
    elif operation == "CreateSigningProfile":
        assert body["ProfileName"] not in profile_statuses(world)
    elif operation in ("RevokeSigningProfile", "DisableSigningProfile"):
        assert profile_statuses(world)[body["ProfileName"]] == "Active"
    elif operation == "EnableSigningProfile":
        assert profile_statuses(world)[body["ProfileName"]] == "Disabled"
    elif operation == "RotateSigningProfile":
        [found] = [p for p in profiles(world).list(world.accounts["home"])
                   if p.name == body["ProfileName"]]
        assert found.chain == CHAINS[body["ProfileName"]]
    elif operation == "DeleteSecret":
        assert body["Name"] in secret_names(world)
    elif operation in ("CreateLoginProfile", "UpdateLoginProfile"):
        assert not signs_in(world, body, "new password")
    elif operation == "DeleteLoginProfile":
        assert signs_in(world, body, "old password")
    elif operation == "PutPublicRegistryAlias":
        assert PublicRegistries(world.iam.db).account_of(body["Alias"]) is None
    elif operation == "PutReplicationSite":
        assert body["RegistryId"] not in site_ids(world)
    elif operation == "DeleteReplicationSite":
        assert body["RegistryId"] in site_ids(world)
    elif operation == "CreateKey":
        assert body["Description"] not in [k.description for k in kms(world).list(home)]
    elif operation in ("DisableKey", "EnableKey", "RotateKey"):
        [key] = [k for k in kms(world).list(home) if k.arn == body["KeyId"]]
        assert (key.enabled, key.version) == (operation != "EnableKey", 1)
