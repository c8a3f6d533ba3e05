"""The admin operations that name a registry by AccountId and Region (defaults: the default
registry's), on SQLite and PostgreSQL: an unknown one is a ValidationError naming the account
and region looked for; those that make a registry on first use (the replication sites') make
it only for an existing account in a well-formed region. And the deployment-wide ones the
administrator account runs: RunLifecyclePolicies (one repository's policy, or every policy
due), PreviewLifecyclePolicy, ImportVulnerabilities and ListVulnerabilitySources."""
# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)
from __future__ import annotations

import json
import os

import pytest

from berth.iam.tenancy import RegistryAddress
from tests.unit.api.admin.test_storage_operations import (  # noqa: F401  (fixtures)
    REGION,
    _error,
    _ok,
    admin_root,
    api,
    push_image,
    team,
)

UNKNOWN = "999999999999"
EXPIRE_ALL_BUT_ONE = json.dumps({"rules": [{
    "rulePriority": 1, "action": {"type": "expire"},
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}}]})


@pytest.fixture
def app_repository(api, team):
    """team/app in the team's registry: two images and a policy expiring the older."""
    registry = api.registry_of(team)
    push_image(registry, "team/app", "v1", os.urandom(500))
    push_image(registry, "team/app", "v2", os.urandom(500))
    registry.lifecycle.put_policy("team/app", EXPIRE_ALL_BUT_ONE)
    return registry


def _no_registry(response, account: str, region: str) -> None:
    assert _error(response, 400, "ValidationError") == (
        f"no registry of account {account} in {region}")


def test_an_unknown_registry_is_named_with_the_defaults_filled_in(api, admin_root, team):
    default = api.iam.tenancy.default
    run = {"RepositoryName": "team/app"}
    _no_registry(api.call(admin_root, "RunLifecyclePolicies", {**run, "AccountId": UNKNOWN}),
                 UNKNOWN, default.region)
    _no_registry(api.call(admin_root, "RunLifecyclePolicies", {**run, "Region": "eu-west-3"}),
                 default.account_id, "eu-west-3")
    _no_registry(api.call(admin_root, "PreviewLifecyclePolicy",
                          {**run, "AccountId": team, "Region": "eu-west-3"}), team, "eu-west-3")


def test_the_sites_operations_make_a_registry_only_where_one_may_be(api, admin_root, team):
    listed = api.call(admin_root, "ListReplicationSites", {"AccountId": team,
                                                           "Region": "eu-west-2"})
    assert _ok(listed) == {"Sites": []}
    assert api.iam.listed_registry(RegistryAddress(team, "eu-west-2")) is not None
    _no_registry(api.call(admin_root, "ListReplicationSites", {"AccountId": team,
                                                               "Region": "moon"}), team, "moon")
    _no_registry(api.call(admin_root, "ListReplicationSites", {"AccountId": UNKNOWN}),
                 UNKNOWN, REGION)


def test_preview_then_run_one_repository_then_every_due_policy(api, admin_root, team,
                                                                app_repository):
    where = {"AccountId": team, "Region": REGION, "RepositoryName": "team/app"}
    preview = _ok(api.call(admin_root, "PreviewLifecyclePolicy", where))
    assert preview["LifecyclePolicyText"] == EXPIRE_ALL_BUT_ONE
    assert (preview["ExpiringImageTotalCount"], len(preview["Results"])) == (1, 1)
    expired = preview["Results"][0]["ImageDigest"]
    ran = _ok(api.call(admin_root, "RunLifecyclePolicies", where))["Repositories"]
    assert [(r["RepositoryName"], r["Expired"]) for r in ran] == [("team/app", [expired])]
    every = _ok(api.call(admin_root, "RunLifecyclePolicies", {}))["Repositories"]
    assert [(r["RepositoryName"], r["Expired"]) for r in every] == [("team/app", [])]


def test_import_and_list_vulnerability_sources(api, admin_root, tmp_path):
    assert _ok(api.call(admin_root, "ListVulnerabilitySources", {})) == {"Sources": []}
    missing = str(tmp_path / "nowhere")
    assert _error(api.call(admin_root, "ImportVulnerabilities", {"Paths": missing}), 400,
                  "ValidationError") == f"no such file or folder: {missing}"
    folder = tmp_path / "PyPI"
    folder.mkdir()
    (folder / "OSV-1.json").write_text(json.dumps({
        "id": "OSV-1", "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "example"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}))
    imported = _ok(api.call(admin_root, "ImportVulnerabilities", {"Paths": str(folder)}))
    assert [(s["Name"], s["Records"], s["Changed"]) for s in imported["Sources"]] == [
        ("PyPI", 1, True)]
    listed = _ok(api.call(admin_root, "ListVulnerabilitySources", {}))["Sources"]
    assert [(s["Name"], s["Records"]) for s in listed] == [("PyPI", 1)]
