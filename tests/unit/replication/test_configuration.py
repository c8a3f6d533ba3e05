"""Replication rules as ECR takes them (berth.replication.configuration): which destinations
an image pushed to a repository goes to (PREFIX_MATCH filters, each destination once, only
content pushed after the destination was configured), ECR's limits and refusals."""
from __future__ import annotations

import pytest

from berth.replication.configuration import (
    MAX_FILTERS,
    Configuration,
    Destination,
    ReplicationConfigurationInvalid,
    ReplicationConfigurations,
    Rule,
)
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import migrate
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database

ACCOUNT, REGION, REGIONS = "210987654321", "us-east-1", ("us-east-1", "eu-west-1")
WEST = Destination("eu-west-1", ACCOUNT)
OTHER = Destination("us-east-1", "123456789012")


@pytest.fixture
def configurations(database_url):
    db = Database(database_url)
    migrate.upgrade(db)
    with db.write() as tx:
        identity_rows.insert_account(tx, {"id": ACCOUNT, "name": "source", "is_admin": False,
                                          "created_at": 1.0})
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, REGION)
    yield ReplicationConfigurations(db, registry_id)
    db.dispose()


def _put(configurations, *rules: Rule, now: float = 100.0) -> Configuration:
    return configurations.put(Configuration(rules), ACCOUNT, REGION, REGIONS, now=now)


def test_a_registry_starts_without_rules(configurations):
    assert configurations.get() == Configuration()


def test_prefix_filters_pick_the_repositories(configurations):
    stored = _put(configurations, Rule((WEST,), ("prod",)), Rule((OTHER,)))
    assert configurations.get() == stored
    assert stored.destinations_for("prod/app", 101.0) == [WEST, OTHER]
    assert stored.destinations_for("production", 101.0) == [WEST, OTHER]  # a plain prefix
    assert stored.destinations_for("dev/app", 101.0) == [OTHER]  # no filter: every one


def test_each_destination_once(configurations):
    stored = _put(configurations, Rule((WEST, OTHER), ("prod",)), Rule((WEST,), ("prod/a",)))
    assert stored.destinations_for("prod/app", 101.0) == [WEST, OTHER]


def test_only_content_pushed_after_the_destination_was_configured(configurations):
    _put(configurations, Rule((WEST,)), now=100.0)
    stored = _put(configurations, Rule((WEST, OTHER)), now=200.0)
    assert stored.destinations_for("app", 150.0) == [WEST]   # OTHER came later
    assert stored.destinations_for("app", 99.0) == []
    assert stored.destinations_for("app", 200.0) == [WEST, OTHER]
    # Dropped and configured again: it starts again from then.
    _put(configurations, Rule((OTHER,)), now=300.0)
    again = _put(configurations, Rule((WEST, OTHER)), now=400.0)
    assert again.destinations_for("app", 350.0) == [OTHER]


def test_no_rules_removes_the_configuration(configurations):
    _put(configurations, Rule((WEST,)))
    assert _put(configurations) == Configuration()
    assert configurations.get() == Configuration()


@pytest.mark.parametrize("rules, says", [
    ((Rule((Destination(REGION, ACCOUNT),)),), "source registry itself"),
    ((Rule((Destination("ap-south-1", ACCOUNT),)),), "not served"),
    ((Rule(()),), "at least one destination"),
    ((Rule((WEST,), ("Prod",)),), "Invalid repository filter"),
    ((Rule((WEST,), ("p",)),), "Invalid repository filter"),
    ((Rule((WEST,), tuple(f"team{n}" for n in range(MAX_FILTERS + 1))),), "filters"),
    (tuple(Rule(tuple(Destination("eu-west-1", f"{n:012d}") for n in range(k, k + 13)))
           for k in (0, 13)), "unique destinations"),
])
def test_what_ecr_refuses(configurations, rules, says):
    with pytest.raises(ReplicationConfigurationInvalid) as caught:
        _put(configurations, *rules)
    assert says in caught.value.message
    assert configurations.get() == Configuration()


def test_deletions_go_only_where_a_rule_replicates_them(configurations):
    stored = _put(configurations, Rule((WEST,), ("prod",), True), Rule((OTHER,)))
    assert stored.destinations_for("prod/app", 101.0, deletes=True) == [WEST]
    assert stored.destinations_for("dev/app", 101.0, deletes=True) == []
    assert stored.destinations_for("prod/app", 101.0) == [WEST, OTHER]
