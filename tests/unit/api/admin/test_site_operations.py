"""The replication-site operations of the admin API, on SQLite and PostgreSQL, over the
registry the server wires: PutReplicationSite, ListReplicationSites and
DeleteReplicationSite, per account and region (the default region unless named), authorized
as berth: actions on the account's root. Refusals are ValidationErrors, a secret that never
resolves is SecretNotFoundException, an unknown site ResourceNotFoundException (404); the
site's access key is in no answer."""
from __future__ import annotations

import json

import pytest

from berth.iam.tenancy import RegistryAddress
from tests.unit.api.admin.test_storage_operations import (  # noqa: F401  (fixtures)
    REGION,
    _denied,
    _error,
    _ok,
    _policy,
    admin_root,
    api,
    team,
)

SITE = "123456789012"
ENDPOINT = "https://site-b.example.com:8443"
KEY_ID, KEY = "AKIASITEBKEY00000000", "the-sites-secret-key-never-shown-0123456"
ACCESS_KEY = json.dumps({"accessKeyId": KEY_ID, "secretAccessKey": KEY})


def _secret(api, account: str, value: str = ACCESS_KEY, name: str = "replication/site-b",
            region: str = REGION) -> str:
    return api.registry.secrets.put(account, region, name, value).arn


@pytest.fixture
def root(api, team):
    api.registry_of(team)  # the account's registry in the default region, as first use makes it
    return api.root_key(team)


@pytest.fixture
def arn(api, team) -> str:
    return _secret(api, team)


def _site(arn: str, registry_id: str = SITE, endpoint: str = ENDPOINT, **more) -> dict:
    return {"RegistryId": registry_id, "Endpoint": endpoint, "SecretArn": arn, **more}


def test_put_list_delete_as_the_account_root(api, team, root, arn):
    put = api.call(root, "PutReplicationSite", _site(arn, endpoint=ENDPOINT + "/"))
    made = _ok(put)["Site"]
    assert set(made) == {"RegistryId", "Endpoint", "SecretArn", "CreatedAt"}
    assert (made["RegistryId"], made["Endpoint"], made["SecretArn"]) == (SITE, ENDPOINT, arn)
    assert made["CreatedAt"].endswith("Z")
    other = _ok(api.call(root, "PutReplicationSite", _site(arn, "023456789012",
                                                           "http://10.0.0.7:5000")))["Site"]
    listed = api.call(root, "ListReplicationSites", {})
    assert _ok(listed) == {"Sites": [other, made]}
    assert _ok(api.call(root, "DeleteReplicationSite", {"RegistryId": SITE})) == {}
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": [other]}
    gone = api.call(root, "DeleteReplicationSite", {"RegistryId": SITE})
    assert "123456789012" in _error(gone, 404, "ResourceNotFoundException")
    assert KEY not in put.text + listed.text + gone.text
    assert KEY_ID not in put.text + listed.text + gone.text


def test_the_administrator_names_the_account(api, admin_root, team, root, arn):
    _ok(api.call(admin_root, "PutReplicationSite", _site(arn, AccountId=team)))
    assert [s["RegistryId"] for s in _ok(api.call(root, "ListReplicationSites", {}))[
        "Sites"]] == [SITE]
    assert _ok(api.call(admin_root, "ListReplicationSites", {})) == {"Sites": []}  # its own


def test_sites_are_per_region(api, team, root):
    api.iam.registry_id(RegistryAddress(team, "eu-west-1"))
    arn = _secret(api, team, region="eu-west-1")
    _ok(api.call(root, "PutReplicationSite", _site(arn, Region="eu-west-1")))
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": []}
    assert [s["RegistryId"] for s in _ok(api.call(root, "ListReplicationSites", {
        "Region": "eu-west-1"}))["Sites"]] == [SITE]
    unknown = api.call(root, "ListReplicationSites", {"Region": "mars-1"})
    _error(unknown, 400, "ValidationError")


@pytest.mark.parametrize("change, says", [
    ({"RegistryId": "12345678901"}, "registry id"),
    ({"RegistryId": "abcdefghijkl"}, "registry id"),
    ({"Endpoint": "ftp://site-b.example.com"}, "endpoint"),
    ({"Endpoint": "http://site-b.example.com:70000"}, "endpoint"),
    ({"Endpoint": "http://site-b.example.com/v2/"}, "endpoint"),
    ({"SecretArn": "replication/site-b"}, "secret ARN"),
])
def test_bad_parameters_are_validation_errors(api, root, arn, change, says):
    refused = api.call(root, "PutReplicationSite", {**_site(arn), **change})
    assert says in _error(refused, 400, "ValidationError")
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": []}


@pytest.mark.parametrize("params", [{"Endpoint": ENDPOINT, "SecretArn": "x"},
                                    {"RegistryId": SITE, "SecretArn": "x"},
                                    {"RegistryId": SITE, "Endpoint": ENDPOINT},
                                    {"RegistryId": 123456789012, "Endpoint": ENDPOINT,
                                     "SecretArn": "x"},
                                    {"RegistryId": SITE, "Endpoint": ENDPOINT,
                                     "SecretArn": "x", "SecretAccessKey": KEY}])
def test_missing_and_unknown_members_are_validation_errors(api, root, params):
    refused = api.call(root, "PutReplicationSite", params)
    assert KEY not in _error(refused, 400, "ValidationError")
    _error(api.call(root, "DeleteReplicationSite", {}), 400, "ValidationError")


def test_a_local_account_is_no_site(api, team, root, arn):
    for account in (team, api.iam.identities.admin_account().id):
        refused = api.call(root, "PutReplicationSite", _site(arn, account))
        assert "one of this deployment's" in _error(refused, 400, "ValidationError")


@pytest.mark.parametrize("value", [
    json.dumps({"accessKeyId": KEY_ID}),
    json.dumps({"accessKeyId": KEY_ID, "secretAccessKey": ""}),
    json.dumps({"username": KEY_ID, "accessToken": KEY}),
])
def test_a_secret_without_an_access_key_is_refused_without_quoting_it(api, team, root,
                                                                       value):
    refused = api.call(root, "PutReplicationSite", _site(_secret(api, team, value)))
    assert "accessKeyId and secretAccessKey" in _error(refused, 400, "ValidationError")
    assert KEY not in refused.text and KEY_ID not in refused.text


def test_a_secret_of_another_region_is_refused(api, root, arn):
    refused = api.call(root, "PutReplicationSite",
                       _site(arn.replace(":us-east-1:", ":eu-west-1:")))
    assert "not in the registry's account and region" in _error(refused, 400,
                                                                 "ValidationError")


@pytest.mark.parametrize("arn_of", [
    lambda arn: arn.replace("site-b", "nowhere"),             # no such secret
    lambda arn: arn[:-7].replace("site-b", "nowhere"),        # partial, of no secret
    lambda arn: arn[:-6] + "zzzzzz",                          # the name, another suffix
    lambda arn: arn.replace("replication/", "bad name/"),     # of no secret's form
])
def test_a_secret_that_never_resolves_is_secret_not_found(api, root, arn, arn_of):
    refused = api.call(root, "PutReplicationSite", _site(arn_of(arn)))
    assert refused.status_code == 404, refused.text
    assert refused.json()["__type"] == "SecretNotFoundException"
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": []}


def test_a_partial_arn_of_the_secret_is_taken(api, root, arn):
    _ok(api.call(root, "PutReplicationSite", _site(arn[:-7])))


def test_a_user_needs_the_berth_action_and_another_account_is_out_of_reach(api, team, root,
                                                                          arn):
    other = api.account("team-b").id
    plain = api.user_key(team, "plain", _policy("ecr:*"))
    for operation, params in (("PutReplicationSite", _site(arn)),
                              ("ListReplicationSites", {}),
                              ("DeleteReplicationSite", {"RegistryId": SITE})):
        _denied(api.call(plain, operation, params), f"berth:{operation}")
    allowed = api.user_key(team, "ops", _policy("berth:*ReplicationSite*"))
    _ok(api.call(allowed, "PutReplicationSite", _site(arn)))
    _ok(api.call(allowed, "ListReplicationSites", {}))
    _denied(api.call(allowed, "ListReplicationSites", {"AccountId": other}),
            "berth:ListReplicationSites")
    _denied(api.call(api.root_key(other), "DeleteReplicationSite", {
        "AccountId": team, "RegistryId": SITE}), "berth:DeleteReplicationSite")
    assert len(_ok(api.call(root, "ListReplicationSites", {}))["Sites"]) == 1


def test_another_accounts_secret_is_refused(api, team, root):
    other = api.account("team-b").id
    theirs = _secret(api, other, name="replication/theirs")
    refused = api.call(root, "PutReplicationSite", _site(theirs))
    assert refused.status_code == 400, refused.text
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": []}


def test_a_fresh_account_puts_and_lists_its_sites(api):
    fresh = api.account("team-fresh").id
    root = api.root_key(fresh)
    assert _ok(api.call(root, "ListReplicationSites", {})) == {"Sites": []}
    _ok(api.call(root, "PutReplicationSite", _site(_secret(api, fresh))))
