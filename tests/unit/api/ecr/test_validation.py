"""validate_input: each kind of check, the error each failure maps to, and AWS's paths."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from berth.api.ecr import model
from berth.api.ecr.errors import EcrApiError
from berth.api.ecr.validation import UNSUPPORTED_PATTERNS, compiled_pattern, validate_input

from .support import PATTERN_SAMPLES, all_shapes, b64, synthetic_operation

OP = synthetic_operation()


def _error(params, operation=OP) -> EcrApiError:
    with pytest.raises(EcrApiError) as caught:
        validate_input(operation, params)
    return caught.value


def _violation(params, operation=OP) -> tuple[str, str]:
    """(path, constraint) of an InvalidParameterException."""
    error = _error(params, operation)
    assert (error.code, error.status) == ("InvalidParameterException", 400), error.message
    found = re.fullmatch(r"Invalid parameter at '(.*)' failed to satisfy constraint: '(.*)'",
                         error.message)
    assert found, error.message
    return found.group(1), found.group(2)


def _serialization(params, operation=OP) -> str:
    error = _error(params, operation)
    assert (error.code, error.status) == ("SerializationException", 400), error.message
    return error.message


def test_a_valid_request_comes_back_converted_without_unknown_members():
    params = {"name": "abc", "count": 3, "big": 2**40, "ratio": 0.5, "flag": False,
              "when": 1700000000, "data": b64(b"\x00\xff"), "kind": "BETA",
              "names": ["ab", "cd"], "items": [{"name": "xy", "names": ["zz"], "extra": 1}],
              "labels": {"ab": "ALPHA"}, "nested": {"inner": {"items": []}},
              "odd": "???", "unknown": {"anything": [1, 2]}}
    result = validate_input(OP, params)
    assert result["when"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert result["data"] == b"\x00\xff"
    assert result["items"] == [{"name": "xy", "names": ["zz"]}]
    assert "unknown" not in result
    assert {k: v for k, v in result.items() if k not in ("when", "data", "items")} == {
        k: v for k, v in params.items() if k not in ("when", "data", "items", "unknown")}


def test_null_is_absent_and_required_members_must_not_be_null():
    assert validate_input(OP, {"name": "ab", "count": None}) == {"name": "ab"}
    assert _violation({}) == ("name", "Member must not be null")
    assert _violation({"name": None}) == ("name", "Member must not be null")
    assert _violation({"name": "ab", "items": [{"names": ["ab"]}]}) == (
        "items.1.member.name", "Member must not be null")
    assert _violation({"name": "ab", "items": [None]}) == (
        "items.1.member", "Member must not be null")
    assert _violation({"name": "ab", "names": ["ab", None]}) == (
        "names", "Member must satisfy constraint: [Member must not be null]")


@pytest.mark.parametrize("body", [[], "x", 1, None, True])
def test_the_body_must_be_an_object(body):
    assert "JSON object" in _serialization(body)


@pytest.mark.parametrize("member, value", [
    ("name", 5), ("name", ["ab"]), ("count", "3"), ("count", True), ("count", 2.5),
    ("count", 2**31), ("big", 2**63), ("ratio", "0.5"), ("ratio", False), ("ratio", 10**400),
    ("flag", "true"), ("flag", 0), ("when", "yesterday"), ("when", True), ("when", 1e300),
    ("data", "not base64!"), ("data", 12), ("kind", 1), ("names", "ab"), ("items", {}),
    ("labels", []), ("nested", "x"),
])
def test_wrong_json_types_are_serialization_errors(member, value):
    assert f"'{member}'" in _serialization({"name": "ab", member: value})


def test_type_errors_win_over_earlier_constraint_violations():
    # Deserialization comes first on the server: the violation in "name" is never judged.
    assert "'count'" in _serialization({"name": "TOOLONG", "count": "x"})


def test_integers_accept_integral_floats_and_the_full_range():
    assert validate_input(OP, {"name": "ab", "count": 4.0})["count"] == 4
    assert validate_input(OP, {"name": "ab", "big": -2**63})["big"] == -2**63


def test_string_length_and_pattern():
    assert _violation({"name": "a"}) == ("name", "Member must have length greater than or "
                                                 "equal to 2")
    assert _violation({"name": "abcdef"}) == ("name", "Member must have length less than or "
                                                      "equal to 5")
    assert _violation({"name": "AB"}) == (
        "name", "Member must satisfy regular expression pattern: [a-z]+")


def test_patterns_must_match_the_whole_value():
    assert _violation({"name": "ab\n"})[0] == "name"
    assert _violation({"name": "ab1"})[0] == "name"


def test_string_length_counts_utf16_code_units_as_java_does():
    assert validate_input(OP, {"name": "ab", "wide": "\u00e9\u00e9\u00e9"})
    assert _violation({"name": "ab", "wide": "\U0001F600\U0001F600"}) == (
        "wide", "Member must have length less than or equal to 3")


def test_enum():
    assert _violation({"name": "ab", "kind": "alpha"}) == (
        "kind", "Member must satisfy enum value set: [ALPHA, BETA]")


def test_numeric_ranges():
    assert _violation({"name": "ab", "count": 0}) == (
        "count", "Member must have value greater than or equal to 1")
    assert _violation({"name": "ab", "count": 11}) == (
        "count", "Member must have value less than or equal to 10")
    assert _violation({"name": "ab", "ratio": 1.5}) == (
        "ratio", "Member must have value less than or equal to 1")


def test_bounds_are_inclusive():
    for params in [{"name": "ab"}, {"name": "abcde"}, {"name": "ab", "count": 1},
                   {"name": "ab", "count": 10}, {"name": "ab", "ratio": 0},
                   {"name": "ab", "ratio": 1.0}, {"name": "ab", "names": ["ab"] * 3},
                   {"name": "ab", "data": b64(b"1234")}, {"name": "ab", "wide": "\U0001F600a"},
                   {"name": "ab", "labels": {"ab": "ALPHA", "cd": "BETA"}},
                   {"name": "ab", "items": [{"name": "ab"}] * 2}]:
        validate_input(OP, params)
    ecr = model.operation_model
    validate_input(ecr("CreateRepository"), {"repositoryName": "a" * 256})
    validate_input(ecr("DescribeRepositories"), {"maxResults": 1000})
    validate_input(ecr("BatchDeleteImage"), {"repositoryName": "ab",
                                             "imageIds": [{"imageTag": "x" * 300}] * 100})


def test_list_and_map_sizes_and_blob_length():
    assert _violation({"name": "ab", "names": []}) == (
        "names", "Member must have length greater than or equal to 1")
    assert _violation({"name": "ab", "names": ["ab"] * 4}) == (
        "names", "Member must have length less than or equal to 3")
    assert _violation({"name": "ab", "labels": {"ab": "ALPHA", "cd": "ALPHA", "ef": "BETA"}}) \
        == ("labels", "Member must have length less than or equal to 2")
    assert _violation({"name": "ab", "data": b64(b"12345")}) == (
        "data", "Member must have length less than or equal to 4")


def test_scalar_list_members_are_reported_at_the_list():
    assert _violation({"name": "ab", "names": ["ab", "X"]}) == (
        "names", "Member must satisfy constraint: [Member must have length greater than or "
                 "equal to 2, Member must satisfy regular expression pattern: [a-z]+]")


def test_map_keys_and_values_are_reported_at_the_map():
    assert _violation({"name": "ab", "labels": {"A": "ALPHA"}})[1].startswith(
        "Map keys must satisfy constraint: [Member must have length greater than")
    assert _violation({"name": "ab", "labels": {"ab": "GAMMA"}}) == (
        "labels", "Map value must satisfy constraint: [Member must satisfy enum value set: "
                  "[ALPHA, BETA]]")
    assert _violation({"name": "ab", "nested": {"byName": {"ab": {"name": "B"}}}})[0] == (
        "nested.byName.ab.name")


def test_nested_paths_count_from_one_and_name_each_member():
    items = [{"name": "ab"}, {"name": "ab", "names": ["ab", "UP"]}]
    assert _violation({"name": "ab", "nested": {"inner": {"items": items}}}) == (
        "nested.inner.items.2.member.names",
        "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[a-z]+]")


def test_the_first_violation_in_document_order_is_reported():
    assert _violation({"name": "A", "count": 0})[0] == "name"
    assert _violation({"name": "ab", "count": 0, "items": [{"name": "Q"}]})[0] == "count"


def test_timestamps_from_epoch_numbers_and_iso_strings():
    parse = lambda when: validate_input(OP, {"name": "ab", "when": when})["when"]  # noqa: E731
    utc = timezone.utc
    assert parse(0) == datetime(1970, 1, 1, tzinfo=utc)
    assert parse(1.5) == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=utc)
    assert parse("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=utc)
    assert parse("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=utc)
    assert parse("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=utc)
    assert parse("2026-01-02T05:04:05+02:00").utcoffset() == timedelta(hours=2)


def test_an_uncompilable_pattern_is_skipped_not_fatal():
    assert compiled_pattern("\\p{Alpha}+") is None
    assert validate_input(OP, {"name": "ab", "odd": "123"})["odd"] == "123"


def test_every_ecr_pattern_compiles_or_is_deliberately_skipped():
    patterns = {s.metadata["pattern"] for s in all_shapes(model.service_model())
                if "pattern" in s.metadata}
    assert patterns, "the ECR model has no patterns?"
    for pattern in patterns - UNSUPPORTED_PATTERNS:
        assert compiled_pattern(pattern) is not None, pattern


def test_every_ecr_pattern_has_a_sample_that_matches_it():
    patterns = {s.metadata["pattern"] for s in all_shapes(model.service_model())
                if "pattern" in s.metadata}
    assert patterns <= set(PATTERN_SAMPLES), patterns - set(PATTERN_SAMPLES)
    for pattern in patterns - UNSUPPORTED_PATTERNS:
        assert compiled_pattern(pattern).fullmatch(PATTERN_SAMPLES[pattern]), pattern


@pytest.mark.parametrize("name, params, path, constraint", [
    # ECR's own words for a repository name (its pattern with a plain "/"); a list's names
    # are in the model's words.
    ("CreateRepository", {"repositoryName": "Team/Web"}, "repositoryName",
     r"must satisfy regular expression '[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
     r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*'"),
    ("DescribeRepositories", {"repositoryNames": ["Team/Web"]}, "repositoryNames",
     "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
     r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*]"),
    ("CreateRepository", {"repositoryName": "a" * 257}, "repositoryName",
     "Member must have length less than or equal to 256"),
    ("CreateRepository", {"repositoryName": "ab", "imageTagMutability": "SOMETIMES"},
     "imageTagMutability", "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, "
                           "IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]"),
    ("BatchDeleteImage", {"repositoryName": "ab", "imageIds": [{"imageTag": "x" * 301}]},
     "imageIds.1.member.imageTag", "Member must have length less than or equal to 300"),
    ("BatchGetImage", {"repositoryName": "ab", "imageIds": []}, "imageIds",
     "Member must have length greater than or equal to 1"),
    ("DescribeRepositories", {"maxResults": 1001}, "maxResults",
     "Member must have value less than or equal to 1000"),
    ("GetAuthorizationToken", {"registryIds": ["12345678901"]}, "registryIds",
     "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
     "[0-9]{12}]"),
])
def test_ecr_operations(name, params, path, constraint):
    operation = model.operation_model(name)
    found = _violation(params, operation)
    member = operation.input_shape.members.get(path)
    if "enum value set" in constraint:  # the model's order, whatever it is
        constraint = f"Member must satisfy enum value set: [{', '.join(member.enum)}]"
    constraint = constraint.replace("{pattern}", str(member and member.metadata.get("pattern")))
    assert found == (path, constraint)
