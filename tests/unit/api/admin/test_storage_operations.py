"""The storage operations of the admin API, on SQLite and PostgreSQL, over the registry the
server wires (berth.app.open_registry): RunGarbageCollection (the administrator account only:
it sweeps every account's storage; DryRun "true" counts, "false" frees) and GetStorageUsage
(the caller's own account by default; another account's for the administrator account)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from berth.api.admin import admin_route
from berth.app import open_registry
from berth.config import Settings
from berth.gc.collector import object_key
from berth.iam.tenancy import RegistryAddress
from berth.registry.references import Digest
from berth.registry.registry import Registry
from tests.support.repositories import pushes_create
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.unit.api.admin.conftest import Admin

REGION = "us-east-1"
LOOSE = os.urandom(2000)  # a blob pushed without a manifest: garbage once its grace is over
KEPT = os.urandom(1000)   # a layer of a tagged image: never garbage
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _policy(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": "*"}]})


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["__type"] == code, response.text
    return response.json()["message"]


def _denied(response, action: str) -> str:
    message = _error(response, 400, "AccessDeniedException")
    assert f"is not authorized to perform: {action}" in message
    return message


@dataclass
class StorageApi(Admin):
    registry: Registry | None = None

    def registry_of(self, account_id: str) -> Registry:
        """The account's registry, where pushes make repositories."""
        found = self.registry.scoped(self.iam.registry_id(RegistryAddress(account_id, REGION)))
        pushes_create(found.db, found.registry_id)
        return found


@pytest.fixture
def api(tmp_path, database_url):
    migrating = Database(database_url)
    migrate.upgrade(migrating)
    migrating.dispose()
    registry, iam = open_registry(Settings(data_dir=tmp_path / "data", database=database_url))
    app = Starlette(routes=[admin_route()])
    app.state.iam, app.state.registry = iam, registry
    try:
        with TestClient(app) as client:
            yield StorageApi(client, iam, registry)
    finally:
        registry.close()


@pytest.fixture
def admin_root(api):
    return api.root_key(api.iam.identities.admin_account().id)


@pytest.fixture
def team(api):
    return api.account("team-a").id


# -- state ----------------------------------------------------------------------------------
def push_image(registry: Registry, repository: str, tag: str, layer: bytes) -> int:
    """A tagged image of one layer; the bytes of its blobs (config and layer)."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for data in (config, layer):
        registry.uploads.put_small(repository, Digest.of(data), data)
    registry.manifests.put(repository, tag, json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": str(Digest.of(config)), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)), "size": len(layer)}]}).encode(),
        OCI_MANIFEST)
    return len(config) + len(layer)


def push_loose_blob(registry: Registry, repository: str) -> str:
    """LOOSE linked in ``repository`` by no manifest, its grace period long over (as if it
    were pushed and abandoned two grace periods ago); the key of its stored object."""
    digest = Digest.of(LOOSE)
    registry.uploads.put_small(repository, digest, LOOSE)
    long_ago = time.time() - 2 * registry.grace_seconds - 60
    with registry.db.engine.begin() as conn:
        conn.execute(text("UPDATE repository_blobs SET unreferenced_since = :t "
                          "WHERE digest = :d"), {"t": long_ago, "d": str(digest)})
        key_ref = conn.execute(text("SELECT key_ref FROM repositories WHERE registry_id = :r "
                                    "AND name = :n"),
                               {"r": registry.registry_id, "n": repository}).scalar_one()
    return object_key(key_ref, str(digest))


def stored(registry: Registry) -> set[str]:
    return {obj.key for obj in registry.driver.walk()}


def links(registry: Registry) -> int:
    with registry.db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM repository_blobs").scalar()


# -- RunGarbageCollection -------------------------------------------------------------------
def test_dry_run_answers_integers(api, admin_root):
    """Even with nothing to collect. On PostgreSQL SUM over a BIGINT is NUMERIC, which the
    driver returns as decimal.Decimal; the JSON encoder then fails the request with a 500."""
    response = api.call(admin_root, "RunGarbageCollection", {"DryRun": "true"})
    assert response.status_code == 200, (
        "RunGarbageCollection DryRun=true failed: BytesFreed from "
        "berth.storage.metadata.garbage.count_freeable (coalesce(sum(blobs.size), 0)) is a "
        "Decimal on PostgreSQL, which orjson cannot encode: " + response.text)
    report = response.json()
    for name in ("LinksRemoved", "ObjectsDeleted", "BytesFreed", "OrphansFound",
                 "OrphanBytes"):
        assert type(report[name]) is int and report[name] == 0, (name, report)


def test_dry_run_counts_and_changes_nothing(api, admin_root, team):
    registry = api.registry_of(team)
    push_image(registry, "team/app", "v1", KEPT)
    key = push_loose_blob(registry, "team/app")
    before_keys, before_links = stored(registry), links(registry)
    assert key in before_keys

    report = _ok(api.call(admin_root, "RunGarbageCollection", {"DryRun": "true"}))
    assert report["DryRun"] is True
    assert report["GraceSeconds"] == registry.grace_seconds
    assert (report["LinksRemoved"], report["ObjectsDeleted"], report["BytesFreed"]) == (
        1, 1, len(LOOSE)), report
    assert (report["OrphansFound"], report["OrphanBytes"]) == (0, 0), report
    assert isinstance(report["Seconds"], (int, float)) and report["Seconds"] >= 0
    assert stored(registry) == before_keys and links(registry) == before_links
    # Case does not matter.
    assert _ok(api.call(admin_root, "RunGarbageCollection", {"DryRun": "TRUE"}))[
        "DryRun"] is True
    assert stored(registry) == before_keys and links(registry) == before_links


def test_a_real_run_frees_the_garbage_only(api, admin_root, team):
    registry = api.registry_of(team)
    image = push_image(registry, "team/app", "v1", KEPT)
    key = push_loose_blob(registry, "team/app")
    kept = stored(registry) - {key}
    assert len(kept) == 2

    report = _ok(api.call(admin_root, "RunGarbageCollection", {"DryRun": "false"}))
    assert report["DryRun"] is False
    assert (report["LinksRemoved"], report["ObjectsDeleted"], report["BytesFreed"]) == (
        1, 1, len(LOOSE)), report
    assert stored(registry) == kept
    assert links(registry) == 2
    usage = _ok(api.call(admin_root, "GetStorageUsage", {"AccountId": team}))
    assert usage["Registries"][0]["Bytes"] == image
    again = _ok(api.call(admin_root, "RunGarbageCollection", {"DryRun": "false"}))
    assert (again["LinksRemoved"], again["ObjectsDeleted"], again["BytesFreed"]) == (0, 0, 0)


@pytest.mark.parametrize("value", ["maybe", "", "yes", "1"])
def test_dry_run_must_be_true_or_false(api, admin_root, team, value):
    registry = api.registry_of(team)
    key = push_loose_blob(registry, "team/app")
    message = _error(api.call(admin_root, "RunGarbageCollection", {"DryRun": value}), 400,
                     "ValidationError")
    assert "DryRun" in message
    assert key in stored(registry) and links(registry) == 1, "nothing was swept"


def test_dry_run_must_be_a_string(api, admin_root):
    for value in (True, 1, ["true"]):
        _error(api.call(admin_root, "RunGarbageCollection", {"DryRun": value}), 400,
               "ValidationError")
    _error(api.call(admin_root, "RunGarbageCollection", {"DryRun": "true", "Force": "x"}),
           400, "ValidationError")


def test_only_the_administrator_account_collects_garbage(api, team):
    registry = api.registry_of(team)
    key = push_loose_blob(registry, "team/app")
    everything = _policy("berth:*")
    for caller in (api.root_key(team), api.user_key(team, "ops", everything)):
        for params in ({"DryRun": "false"}, {"DryRun": "true"}, {}):
            message = _denied(api.call(caller, "RunGarbageCollection", params),
                              "berth:RunGarbageCollection")
            assert "administrator account" in message
    # Denied before the parameters are looked at.
    _denied(api.call(api.root_key(team), "RunGarbageCollection", {"DryRun": "maybe"}),
            "berth:RunGarbageCollection")
    assert key in stored(registry) and links(registry) == 1, "nothing was swept"


def test_administrator_users_need_a_policy(api, team):
    admin = api.iam.identities.admin_account().id
    clerk = api.user_key(admin, "clerk")
    _denied(api.call(clerk, "RunGarbageCollection", {"DryRun": "true"}),
            "berth:RunGarbageCollection")
    operator = api.user_key(admin, "operator", _policy("berth:RunGarbageCollection"))
    assert _ok(api.call(operator, "RunGarbageCollection", {"DryRun": "false"}))[
        "DryRun"] is False


def test_unsigned_calls_are_refused(api):
    response = api.call(None, "RunGarbageCollection", {"DryRun": "false"})
    assert response.status_code in (400, 403), response.text
    assert response.json()["__type"] != "ValidationError"


# -- GetStorageUsage ------------------------------------------------------------------------
def _usage_of(api: StorageApi, key, **params) -> list[dict]:
    return _ok(api.call(key, "GetStorageUsage", params))["Registries"]


def test_a_root_gets_its_own_accounts_usage_by_default(api, team):
    other = api.account("team-b").id
    mine = push_image(api.registry_of(team), "team/app", "v1", KEPT)
    push_image(api.registry_of(other), "their/app", "v1", LOOSE)
    key = api.root_key(team)
    expected = [{"AccountId": team, "Region": REGION, "Objects": 2, "Bytes": mine,
                 "Repositories": [{"RepositoryName": "team/app", "Objects": 2,
                                   "Bytes": mine}]}]
    assert _usage_of(api, key) == expected
    assert _usage_of(api, key, AccountId=team) == expected


def test_another_accounts_usage_is_denied_to_non_administrators(api, team):
    other = api.account("team-b").id
    push_image(api.registry_of(other), "their/app", "v1", LOOSE)
    for key in (api.root_key(team), api.user_key(team, "ops", _policy("berth:*"))):
        message = _denied(api.call(key, "GetStorageUsage", {"AccountId": other}),
                          "berth:GetStorageUsage")
        assert "administrator account" in message
        assert other not in json.dumps(_usage_of(api, key))


def test_users_need_a_policy_for_their_own_account(api, team):
    push_image(api.registry_of(team), "team/app", "v1", KEPT)
    _denied(api.call(api.user_key(team, "alice"), "GetStorageUsage"),
            "berth:GetStorageUsage")
    allowed = api.user_key(team, "bob", _policy("berth:GetStorageUsage"))
    assert [r["AccountId"] for r in _usage_of(api, allowed)] == [team]


def test_the_administrator_gets_any_accounts_usage(api, admin_root, team):
    image = push_image(api.registry_of(team), "team/app", "v1", KEPT)
    found = _usage_of(api, admin_root, AccountId=team)
    assert found == [{"AccountId": team, "Region": REGION, "Objects": 2, "Bytes": image,
                      "Repositories": [{"RepositoryName": "team/app", "Objects": 2,
                                        "Bytes": image}]}]
    # Without AccountId, its own account's (where nothing is stored).
    admin = api.iam.identities.admin_account().id
    assert all(r["AccountId"] == admin for r in _usage_of(api, admin_root))
    assert _usage_of(api, admin_root, AccountId="999999999999") == []
