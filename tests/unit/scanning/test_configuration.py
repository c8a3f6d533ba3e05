"""A registry's scanning configuration (berth.scanning.configuration): ECR's limits on what
PutRegistryScanningConfiguration accepts, what applies to one repository, and the
configuration kept in the registry's settings of a migrated SQLite database."""
from __future__ import annotations

import pytest

from berth.registry.settings import get_settings, update_settings
from berth.scanning.configuration import (
    BASIC,
    CONTINUOUS,
    ENHANCED,
    KEY,
    MANUAL,
    SCAN_ON_PUSH,
    RegistryScanning,
    RepositoryScanning,
    ScanningConfiguration,
    for_repository,
    validate,
)
from berth.scanning.errors import ScanningConfigurationInvalid


def wildcard(*patterns: str) -> list[dict]:
    return [{"filter": p, "filterType": "WILDCARD"} for p in patterns]


def rule(frequency: str, *patterns: str) -> dict:
    return {"scanFrequency": frequency, "repositoryFilters": wildcard(*patterns)}


def invalid(scan_type: str, rules: list[dict]) -> str:
    with pytest.raises(ScanningConfigurationInvalid) as caught:
        validate(scan_type, rules)
    assert caught.value.code == "SCANNING_CONFIGURATION_INVALID"
    return str(caught.value)


# -- validate ---------------------------------------------------------------------------------
def test_a_valid_configuration_is_kept_as_given_without_extra_keys():
    given = [{"scanFrequency": CONTINUOUS, "extra": 1,
              "repositoryFilters": [{"filter": "prod/*", "filterType": "WILDCARD", "x": 2}]},
             rule(SCAN_ON_PUSH, "*")]
    assert validate(ENHANCED, given) == RegistryScanning(ENHANCED, (
        rule(CONTINUOUS, "prod/*"), rule(SCAN_ON_PUSH, "*")))
    assert validate(BASIC, []) == RegistryScanning(BASIC, ())
    assert validate(BASIC, [{"scanFrequency": MANUAL}]) == RegistryScanning(
        BASIC, ({"scanFrequency": MANUAL, "repositoryFilters": []},))


def test_the_scan_type_is_basic_or_enhanced():
    assert invalid("basic", []) == "scanType must be one of BASIC, ENHANCED"
    assert invalid("", []) == "scanType must be one of BASIC, ENHANCED"


def test_at_most_two_rules():
    three = [rule(SCAN_ON_PUSH, "a"), rule(CONTINUOUS, "b"), rule(MANUAL, "c")]
    assert invalid(ENHANCED, three) == "at most 2 scanning rules are allowed"
    assert len(validate(ENHANCED, three[:2]).rules) == 2


def test_at_most_a_hundred_filters_per_rule():
    hundred = [f"team-{i}/*" for i in range(100)]
    assert len(validate(BASIC, [rule(SCAN_ON_PUSH, *hundred)]).rules[0]["repositoryFilters"]) \
        == 100
    assert invalid(BASIC, [rule(SCAN_ON_PUSH, *hundred, "one-more")]) == \
        "a scanning rule has at most 100 repository filters"


@pytest.mark.parametrize("pattern", [
    "*", "prod", "prod/*", "*/app", "team-a/app_1.x", "a", "p*d", "0", "a" * 255])
def test_filters_the_model_allows(pattern):
    assert validate(BASIC, [rule(SCAN_ON_PUSH, pattern)]).rules[0]["repositoryFilters"] == \
        wildcard(pattern)


@pytest.mark.parametrize("pattern", [
    "", "Prod", "prod/", "/prod", "prod//app", "a--b", "-prod", ".prod", "pro d", "prod?",
    "prod[ab]", "a" * 256])
def test_filters_the_model_refuses(pattern):
    message = invalid(BASIC, [rule(SCAN_ON_PUSH, pattern)])
    assert message.startswith(f"the repository filter '{pattern}' must match ")


@pytest.mark.parametrize("filter_type", ["PREFIX_MATCH", "wildcard", None])
def test_the_filter_type_is_wildcard(filter_type):
    filters = [{"filter": "prod", **({"filterType": filter_type} if filter_type else {})}]
    assert invalid(BASIC, [{"scanFrequency": SCAN_ON_PUSH, "repositoryFilters": filters}]) == \
        "filterType must be WILDCARD"


def test_continuous_scanning_only_with_enhanced():
    assert invalid(BASIC, [rule(CONTINUOUS, "*")]) == (
        "scanFrequency CONTINUOUS_SCAN is only supported with ENHANCED scanning")
    assert validate(ENHANCED, [rule(CONTINUOUS, "*")]).rules == (rule(CONTINUOUS, "*"),)


@pytest.mark.parametrize("frequency", ["DAILY", "scan_on_push", None])
def test_the_frequency_is_one_of_three(frequency):
    assert invalid(ENHANCED, [{"scanFrequency": frequency, "repositoryFilters": []}]) == (
        "scanFrequency must be one of SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL")


@pytest.mark.parametrize("frequency", [SCAN_ON_PUSH, CONTINUOUS, MANUAL])
def test_one_rule_per_frequency(frequency):
    assert invalid(ENHANCED, [rule(frequency, "a"), rule(frequency, "b")]) == (
        f"scanFrequency {frequency} appears in more than one rule")


# -- for_repository ---------------------------------------------------------------------------
ENHANCED_BOTH = validate(ENHANCED, [rule(SCAN_ON_PUSH, "*"), rule(CONTINUOUS, "prod/*", "ops")])


def test_continuous_scanning_is_preferred_over_scan_on_push():
    assert for_repository(ENHANCED_BOTH, "prod/web", False) == RepositoryScanning(
        ENHANCED, CONTINUOUS, tuple(wildcard("prod/*")), False)
    assert for_repository(ENHANCED_BOTH, "ops", True) == RepositoryScanning(
        ENHANCED, CONTINUOUS, tuple(wildcard("ops")), True)
    flipped = validate(ENHANCED, list(reversed(ENHANCED_BOTH.rules)))
    assert for_repository(flipped, "prod/web", False).frequency == CONTINUOUS


def test_a_repository_only_the_scan_on_push_rule_names():
    scanning = for_repository(ENHANCED_BOTH, "dev/web", False)
    assert scanning == RepositoryScanning(ENHANCED, SCAN_ON_PUSH, tuple(wildcard("*")), False)
    assert (scanning.on_push, scanning.continuous) == (True, False)
    assert (for_repository(ENHANCED_BOTH, "prod/web", False).on_push,
            for_repository(ENHANCED_BOTH, "prod/web", False).continuous) == (True, True)


@pytest.mark.parametrize("pattern,name,hit", [
    ("prod*", "prod/app", True), ("prod*", "production", True), ("prod*", "pre/prod", False),
    ("prod", "prod", True), ("prod", "prod/app", False), ("prod", "products", False),
    ("*app", "team/app", True), ("*app", "team/apps", False), ("*/app", "a/b/app", True),
    ("team/*/api", "team/x/api", True), ("team/*/api", "team/x/web", False),
    ("p*d", "prod", True), ("p*d", "pod/x", False), ("*", "anything/at/all", True),
])
def test_wildcards(pattern, name, hit):
    config = validate(ENHANCED, [rule(SCAN_ON_PUSH, pattern)])
    expected = (SCAN_ON_PUSH, tuple(wildcard(pattern))) if hit else (MANUAL, ())
    scanning = for_repository(config, name, False)
    assert (scanning.frequency, scanning.filters) == expected


def test_the_applied_filter_is_the_first_of_the_rule_that_matched():
    config = validate(BASIC, [rule(SCAN_ON_PUSH, "dev/*", "*/web", "*")])
    assert for_repository(config, "dev/web", False).filters == tuple(wildcard("dev/*"))
    assert for_repository(config, "prod/web", False).filters == tuple(wildcard("*/web"))
    assert for_repository(config, "prod/api", False).filters == tuple(wildcard("*"))


def test_a_basic_registry_without_rules_honours_the_repositorys_scan_on_push():
    config = RegistryScanning()
    assert for_repository(config, "app", True) == RepositoryScanning(
        BASIC, SCAN_ON_PUSH, (), True)
    assert for_repository(config, "app", False) == RepositoryScanning(BASIC, MANUAL, (), False)


def test_a_basic_rule_that_names_the_repository_decides_for_it():
    manual = validate(BASIC, [rule(MANUAL, "legacy/*"), rule(SCAN_ON_PUSH, "team/*")])
    assert for_repository(manual, "legacy/app", True) == RepositoryScanning(
        BASIC, MANUAL, tuple(wildcard("legacy/*")), True)
    assert for_repository(manual, "team/app", False) == RepositoryScanning(
        BASIC, SCAN_ON_PUSH, tuple(wildcard("team/*")), False)
    # no rule names it: its own setting again
    assert for_repository(manual, "other", True) == RepositoryScanning(
        BASIC, SCAN_ON_PUSH, (), True)
    assert for_repository(manual, "other", False).frequency == MANUAL


def test_an_enhanced_registry_ignores_the_repositorys_scan_on_push():
    assert for_repository(RegistryScanning(ENHANCED), "app", True) == RepositoryScanning(
        ENHANCED, MANUAL, (), True)
    assert for_repository(RegistryScanning(ENHANCED, ENHANCED_BOTH.rules[1:]),
                          "dev/web", True) == RepositoryScanning(ENHANCED, MANUAL, (), True)
    scanning = for_repository(RegistryScanning(ENHANCED), "app", True)
    assert (scanning.on_push, scanning.continuous) == (False, False)


# -- ScanningConfiguration over a migrated SQLite database ------------------------------------
def test_a_new_registry_scans_basic_without_rules(sqlite_db, registry_id):
    assert ScanningConfiguration(sqlite_db, registry_id).get() == RegistryScanning(BASIC, ())


def test_put_then_get_round_trips(sqlite_db, registry_id):
    configuration = ScanningConfiguration(sqlite_db, registry_id)
    given = [rule(CONTINUOUS, "prod/*", "ops"), rule(SCAN_ON_PUSH, "*")]
    put = configuration.put(ENHANCED, given)
    assert put == RegistryScanning(ENHANCED, tuple(given))
    assert configuration.get() == put
    assert ScanningConfiguration(sqlite_db, registry_id).get() == put  # read from the row
    assert get_settings(sqlite_db, registry_id)[KEY] == {"scanType": ENHANCED, "rules": given}

    assert configuration.put(BASIC, []) == RegistryScanning(BASIC, ())
    assert configuration.get() == RegistryScanning(BASIC, ())
    assert get_settings(sqlite_db, registry_id)[KEY] == {"scanType": BASIC, "rules": []}


def test_an_invalid_put_leaves_the_stored_configuration(sqlite_db, registry_id):
    configuration = ScanningConfiguration(sqlite_db, registry_id)
    kept = configuration.put(BASIC, [rule(SCAN_ON_PUSH, "team/*")])
    with pytest.raises(ScanningConfigurationInvalid):
        configuration.put(BASIC, [rule(CONTINUOUS, "*")])
    with pytest.raises(ScanningConfigurationInvalid):
        configuration.put(ENHANCED, [rule(SCAN_ON_PUSH, "A")])
    assert configuration.get() == kept


def test_the_configuration_keeps_other_settings(sqlite_db, registry_id):
    update_settings(sqlite_db, registry_id, {"createOnPush": False})
    ScanningConfiguration(sqlite_db, registry_id).put(ENHANCED, [rule(CONTINUOUS, "*")])
    assert get_settings(sqlite_db, registry_id) == {
        "createOnPush": False,
        KEY: {"scanType": ENHANCED, "rules": [rule(CONTINUOUS, "*")]}}
