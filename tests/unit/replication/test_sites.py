"""Replication sites (berth.replication.sites): other Berth deployments a registry replicates
to, each named by its registry's account id, validated (12 digits, http(s)://host[:port], a
secret ARN whose secret holds an access key, not an account of this deployment, at most 25)
and kept in the registry's settings without the key; a replication destination whose
registryId is a site may name a region this deployment does not serve; SiteCopier leaves
every other destination to the local copy. On SQLite and PostgreSQL."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from berth.registry.settings import read_settings, update_settings
from berth.replication.configuration import (
    Configuration,
    Destination,
    ReplicationConfigurationInvalid,
    ReplicationConfigurations,
    Rule,
)
from berth.replication.copy import ReplicationRefused, Task
from berth.replication.remote import SiteCopier
from berth.replication.sites import (
    MAX_SITES,
    SETTINGS_KEY,
    Site,
    SiteInvalid,
    SiteNotFound,
    Sites,
)
from berth.secrets import SecretNotFound
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import migrate
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database

ACCOUNT, LOCAL, REGION = "210987654321", "333344445555", "us-east-1"
REGIONS = ("us-east-1", "eu-west-1")
SITE = "123456789012"
ENDPOINT = "https://site-b.example.com:8443"
ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:replication/site-b-AbCdEf"
KEY_ID, KEY = "AKIASITEBKEY00000000", "never-stored-or-shown-0123456789abcdef"


class Secrets:
    """What ``Sites`` resolves secret ARNs with: a dict (SecretNotFound for any other)."""

    def __init__(self):
        self.values = {ARN: {"accessKeyId": KEY_ID, "secretAccessKey": KEY}}
        self.calls = 0

    def __call__(self, arn: str) -> dict:
        self.calls += 1
        if arn not in self.values:
            raise SecretNotFound(f"secret {arn} does not exist")
        return self.values[arn]


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    migrate.upgrade(database)
    with database.write() as tx:
        for account in (ACCOUNT, LOCAL):
            identity_rows.insert_account(tx, {"id": account, "name": f"a-{account}",
                                              "is_admin": False, "created_at": 1.0})
    yield database
    database.dispose()


def _registry(db: Database, account: str = ACCOUNT, region: str = REGION) -> int:
    with db.write() as tx:
        return registry_rows.ensure_registry(tx, account, region)


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def sites(db, secrets) -> Sites:
    return Sites(db, _registry(db), secrets)


def _settings(sites: Sites) -> dict:
    with sites.db.read() as tx:
        return read_settings(tx, sites.registry_id)


# -- storage --------------------------------------------------------------------------------
def test_put_list_delete(sites):
    assert sites.list() == []
    made = sites.put(SITE, ENDPOINT + "/", ARN)
    assert (made.registry_id, made.endpoint, made.secret_arn) == (SITE, ENDPOINT, ARN)
    assert made.created_at > 0
    second = sites.put("023456789012", "http://10.0.0.7", ARN)
    assert sites.list() == [second, made]  # by registry id
    stored = _settings(sites)[SETTINGS_KEY]
    assert stored[SITE] == {"endpoint": ENDPOINT, "secretArn": ARN,
                            "createdAt": made.created_at}
    assert KEY not in json.dumps(_settings(sites)) and KEY_ID not in json.dumps(stored)
    assert sites.delete(SITE) == made
    assert sites.list() == [second]
    with pytest.raises(SiteNotFound):
        sites.delete(SITE)
    sites.delete("023456789012")
    assert SETTINGS_KEY not in _settings(sites)  # the last one gone: no empty document left


def test_a_put_replaces_the_site_of_that_registry_id(sites):
    sites.put(SITE, ENDPOINT, ARN)
    again = sites.put(SITE, "http://127.0.0.1:5000", ARN)
    assert sites.list() == [again]


def test_the_rest_of_the_settings_is_left_alone(sites):
    update_settings(sites.db, sites.registry_id, {"other": {"kept": True}})
    sites.put(SITE, ENDPOINT, ARN)
    sites.delete(SITE)
    assert _settings(sites) == {"other": {"kept": True}}


def test_sites_belong_to_one_registry(db, sites, secrets):
    sites.put(SITE, ENDPOINT, ARN)
    assert Sites(db, _registry(db, ACCOUNT, "eu-west-1"), secrets).list() == []
    assert Sites(db, _registry(db, LOCAL), secrets).list() == []


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:5000", "https://site-b.example.com", "https://site-b.example.com/",
    "http://host:1", "http://host:65535", "http://localhost"])
def test_endpoints_taken(sites, endpoint):
    assert sites.put(SITE, endpoint, ARN).endpoint == endpoint.rstrip("/")


@pytest.mark.parametrize("registry_id, endpoint, arn, says", [
    ("12345678901", ENDPOINT, ARN, "registry id"),
    ("1234567890123", ENDPOINT, ARN, "registry id"),
    ("12345678901a", ENDPOINT, ARN, "registry id"),
    ("", ENDPOINT, ARN, "registry id"),
    ("١٢٣٤٥٦٧٨٩٠١٢", ENDPOINT, ARN, "registry id"),  # not ASCII digits
    (SITE, "ftp://host", ARN, "endpoint"),
    (SITE, "site-b.example.com:8443", ARN, "endpoint"),
    (SITE, "http://", ARN, "endpoint"),
    (SITE, "http://host:0", ARN, "endpoint"),
    (SITE, "http://host:65536", ARN, "endpoint"),
    (SITE, "http://host:123456", ARN, "endpoint"),
    (SITE, "http://host:", ARN, "endpoint"),
    (SITE, "http://host/v2", ARN, "endpoint"),
    (SITE, "http://user@host", ARN, "endpoint"),
    (SITE, "http://host\n", ARN, "endpoint"),
    (SITE, ENDPOINT, "replication/site-b", "secret ARN"),
    (SITE, ENDPOINT, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/abc", "secret ARN"),
    (SITE, ENDPOINT, f"arn:aws:secretsmanager:{REGION}:12345:secret:x", "secret ARN"),
    (SITE, ENDPOINT, f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:", "secret ARN"),
])
def test_what_is_refused(sites, secrets, registry_id, endpoint, arn, says):
    with pytest.raises(SiteInvalid) as caught:
        sites.put(registry_id, endpoint, arn)
    assert says in caught.value.message
    assert sites.list() == [] and secrets.calls == 0  # refused before the secret is opened


def test_a_secret_that_does_not_resolve_is_refused(sites):
    missing = ARN.replace("site-b", "nowhere")
    with pytest.raises(SecretNotFound):
        sites.put(SITE, ENDPOINT, missing)
    assert sites.list() == []


@pytest.mark.parametrize("value", [
    {"accessKeyId": KEY_ID},
    {"secretAccessKey": KEY},
    {"accessKeyId": "", "secretAccessKey": KEY},
    {"accessKeyId": KEY_ID, "secretAccessKey": ""},
    {"accessKeyId": 1, "secretAccessKey": KEY},
    {"accessKeyId": KEY_ID, "secretAccessKey": [KEY]},
    {"username": "alice", "accessToken": KEY},
])
def test_a_secret_without_an_access_key_is_refused_without_quoting_it(sites, secrets, value):
    secrets.values[ARN] = value
    with pytest.raises(SiteInvalid) as caught:
        sites.put(SITE, ENDPOINT, ARN)
    assert "accessKeyId and secretAccessKey" in caught.value.message
    assert KEY not in caught.value.message and KEY_ID not in caught.value.message
    assert sites.list() == []


@pytest.mark.parametrize("account", [ACCOUNT, LOCAL])
def test_an_account_of_this_deployment_is_no_site(sites, account):
    with pytest.raises(SiteInvalid, match="one of this deployment's"):
        sites.put(account, ENDPOINT, ARN)
    assert sites.list() == []


def test_at_most_25_sites(sites):
    ids = [f"{100000000000 + n}" for n in range(MAX_SITES)]
    for registry_id in ids:
        sites.put(registry_id, ENDPOINT, ARN)
    with pytest.raises(SiteInvalid, match=f"at most {MAX_SITES}"):
        sites.put("999999999999", ENDPOINT, ARN)
    sites.put(ids[3], "http://127.0.0.1:5000", ARN)  # a replacement is no new site
    assert len(sites.list()) == MAX_SITES
    sites.delete(ids[0])
    sites.put("999999999999", ENDPOINT, ARN)
    assert len(sites.list()) == MAX_SITES


# -- replication configuration --------------------------------------------------------------
UNSERVED = "ap-south-1"  # not in REGIONS


def _rules(*destinations: Destination) -> Configuration:
    return Configuration((Rule(destinations),))


def test_a_sites_destination_may_name_a_region_not_served_here():
    site = _rules(Destination(UNSERVED, SITE))
    assert site.validate(ACCOUNT, REGION, REGIONS, frozenset({SITE})) is not None
    with pytest.raises(ReplicationConfigurationInvalid, match="not served"):
        site.validate(ACCOUNT, REGION, REGIONS)
    with pytest.raises(ReplicationConfigurationInvalid, match="not served"):
        _rules(Destination(UNSERVED, LOCAL)).validate(ACCOUNT, REGION, REGIONS,
                                                      frozenset({SITE}))
    with pytest.raises(ReplicationConfigurationInvalid, match="source registry itself"):
        _rules(Destination(REGION, ACCOUNT)).validate(ACCOUNT, REGION, REGIONS,
                                                      frozenset({ACCOUNT}))


def test_stored_configurations_know_the_registrys_sites(db, sites):
    configurations = ReplicationConfigurations(db, sites.registry_id)
    to_site = _rules(Destination(UNSERVED, SITE), Destination("eu-west-1", LOCAL))
    with pytest.raises(ReplicationConfigurationInvalid, match=f"'{UNSERVED}'"):
        configurations.put(to_site, ACCOUNT, REGION, REGIONS)
    sites.put(SITE, ENDPOINT, ARN)
    stored = configurations.put(to_site, ACCOUNT, REGION, REGIONS, now=100.0)
    assert configurations.get() == stored
    assert stored.destinations_for("app", 100.0) == [Destination(UNSERVED, SITE),
                                                     Destination("eu-west-1", LOCAL)]
    with pytest.raises(ReplicationConfigurationInvalid, match="not served"):
        configurations.put(_rules(Destination(UNSERVED, "999999999999")), ACCOUNT, REGION,
                           REGIONS)
    other = ReplicationConfigurations(db, _registry(db, LOCAL))  # another registry's sites
    with pytest.raises(ReplicationConfigurationInvalid, match="not served"):
        other.put(_rules(Destination(UNSERVED, SITE)), LOCAL, REGION, REGIONS)
    sites.delete(SITE)
    with pytest.raises(ReplicationConfigurationInvalid, match="not served"):
        configurations.put(to_site, ACCOUNT, REGION, REGIONS)


# -- SiteCopier -----------------------------------------------------------------------------
def _task(registry_id: int, account: str, action: str = "COPY") -> Task:
    return Task(registry_id, "app", "sha256:" + "ab" * 32, "v1", REGION, account, action)


def _never(arn: str) -> dict:
    raise AssertionError("no secret is opened for a destination that is no site")


@pytest.mark.parametrize("account", [LOCAL, ACCOUNT, "999999999999"])
def test_the_site_copier_leaves_other_destinations_alone(db, sites, account):
    sites.put(SITE, ENDPOINT, ARN)
    copier = SiteCopier(SimpleNamespace(db=db), _never)
    for action in ("COPY", "DELETE", "UNTAG"):
        assert copier.apply(_task(sites.registry_id, account, action), lambda: None) is False


def test_another_registrys_site_is_not_this_ones(db, sites):
    sites.put(SITE, ENDPOINT, ARN)
    copier = SiteCopier(SimpleNamespace(db=db), _never)
    assert copier.apply(_task(_registry(db, LOCAL), SITE), lambda: None) is False


def test_a_site_whose_secret_is_gone_is_refused(db, sites, secrets):
    sites.put(SITE, ENDPOINT, ARN)
    del secrets.values[ARN]
    copier = SiteCopier(SimpleNamespace(db=db), secrets)
    with pytest.raises(ReplicationRefused) as caught:
        copier.apply(_task(sites.registry_id, SITE), lambda: None)
    assert caught.value.code == "ACCESS_DENIED"
    secrets.values[ARN] = {"accessKeyId": KEY_ID}
    with pytest.raises(ReplicationRefused) as caught:
        copier.apply(_task(sites.registry_id, SITE), lambda: None)
    assert caught.value.code == "ACCESS_DENIED" and KEY_ID not in str(caught.value)


def test_a_site_is_its_document():
    site = Site(SITE, ENDPOINT, ARN, 5.0)
    assert site.document() == {"endpoint": ENDPOINT, "secretArn": ARN, "createdAt": 5.0}
