"""Lifecycle evaluation (berth.lifecycle.evaluation) against ECR's user guide: every worked
example of "Examples of lifecycle policies", once with the old guide's tagPrefixList
(["prod"]) and once with the current guide's tagPatternList (["prod*"]), which give the same
result; then the rules behind them: pull time, strict "older than N days", storage classes
apart, AND of a rule's prefixes/patterns, and wildcards. Images are fed newest first."""
from __future__ import annotations

import json

import pytest

from berth.lifecycle import policy as lp
from berth.lifecycle.evaluation import Evaluation, Image

NOW = 1_750_000_000.0
DAY, HOUR = 86400.0, 3600.0
KINDS = ["tagPrefixList", "tagPatternList"]
COUNT, PUSHED, PULLED, TRANSITIONED = ("imageCountMoreThan", "sinceImagePushed",
                                       "sinceImagePulled", "sinceImageTransitioned")


def ago(days: float = 0.0, hours: float = 0.0) -> float:
    return NOW - days * DAY - hours * HOUR


def tags_of(kind: str, *stems: str) -> dict:
    """The guide's selection of tags starting with each stem, as prefixes or as patterns."""
    return {kind: [s + "*" if kind == "tagPatternList" else s for s in stems]}


def rule(priority, status, count_type, number, select=None, action="expire", storage=None):
    selection = {"tagStatus": status, **(select or {}), "countType": count_type,
                 "countNumber": number}
    if count_type != COUNT:
        selection["countUnit"] = "days"
    if storage:
        selection["storageClass"] = storage
    act = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {"rulePriority": priority, "selection": selection, "action": act}


def img(digest, tags=(), days=0.0, hours=0.0, **extra) -> Image:
    return Image(digest, tuple(tags), ago(days, hours), **extra)


def verdicts(rules, images, storage_class="standard"):
    """{digest: verdict} of one storage class's pass, images fed newest first."""
    policy = lp.parse(json.dumps({"rules": rules}))
    evaluation = Evaluation(policy, storage_class, NOW)
    newest_first = sorted(images, key=lambda i: i.age_time, reverse=True)
    return {v.image.digest: v for v in evaluation.judge_all(newest_first)}


def acted(rules, images, storage_class="standard"):
    """{digest: rulePriority that acts} (appliedRulePriority in a preview)."""
    return {d: v.rule.priority for d, v in verdicts(rules, images, storage_class).items()}


# §3.1-3.6: the guide's worked examples ------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_guide_multiple_rules_example_a_rule1_keeps_b_so_rule2_cannot_expire_it(kind):
    rules = [rule(1, "tagged", COUNT, 1, tags_of(kind, "prod")),
             rule(2, "tagged", COUNT, 1, tags_of(kind, "beta"))]
    images = [img("A", ["beta-1", "prod-1"], 10), img("B", ["beta-2", "prod-2"], 9),
              img("C", ["beta-3"], 8)]
    assert acted(rules, images) == {"A": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_guide_multiple_rules_example_b_rule1_sees_all_images_so_rule2_sees_none(kind):
    rules = [rule(1, "tagged", COUNT, 1, tags_of(kind, "beta")),
             rule(2, "tagged", COUNT, 1, tags_of(kind, "prod"))]
    images = [img("A", ["beta-1", "prod-1"], 10), img("B", ["beta-2", "prod-2"], 9),
              img("C", ["beta-3"], 8)]
    assert acted(rules, images) == {"A": 1, "B": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_guide_multiple_tags_example_a_only_images_with_every_tag_are_selected(kind):
    rules = [rule(1, "tagged", PUSHED, 5, tags_of(kind, "alpha", "beta"))]
    images = [img("A", ["alpha-1"], 12), img("B", ["beta-1"], 11),
              img("C", ["alpha-2", "beta-2"], 10), img("D", ["alpha-3"], 4),
              img("E", ["beta-3"], 3), img("F", ["alpha-4", "beta-4"], 2)]
    assert acted(rules, images) == {"C": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_guide_multiple_tags_example_b_tags_are_not_exclusive(kind):
    rules = [rule(1, "tagged", COUNT, 1, tags_of(kind, "alpha", "beta"))]
    images = [img("A", ["alpha-1", "beta-1", "gamma-1"], 10), img("B", ["alpha-2", "beta-2"], 9),
              img("C", ["alpha-3", "beta-3", "gamma-2"], 8)]
    assert acted(rules, images) == {"A": 1, "B": 1}


def test_guide_all_images_example_a_any_rule_keeps_newest_tagged_or_untagged():
    # No tag list in this example, so there is no prefix/pattern variant to run.
    rules = [rule(1, "any", COUNT, 1)]
    images = [img("A", ["alpha-1"], 4), img("B", ["beta-1"], 3), img("C", [], 2),
              img("D", ["alpha-2"], 1)]
    assert acted(rules, images) == {"A": 1, "B": 1, "C": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_guide_all_images_example_b_any_rule_counts_claimed_images_but_acts_on_d_only(kind):
    rules = [rule(1, "tagged", COUNT, 1, tags_of(kind, "alpha")),
             rule(2, "untagged", PUSHED, 1),
             rule(3, "any", COUNT, 1)]
    # The guide has D and E both "1 day ago"; its result needs E newer and under a day old.
    images = [img("A", ["alpha-1", "beta-1"], 4), img("B", [], 3), img("C", ["alpha-2"], 2),
              img("D", ["3c9f1a2"], hours=23), img("E", [], hours=22)]
    assert acted(rules, images) == {"A": 1, "B": 2, "D": 3}


# §3.7: the syntax-only examples, with image sets ---------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_guide_filtering_on_image_age_expires_prod_images_pushed_over_14_days_ago(kind):
    rules = [rule(1, "tagged", PUSHED, 14, tags_of(kind, "prod"))]
    images = [img("prod-1", ["prod-1"], 15), img("prod-2", ["prod-2"], 13),
              img("dev-1", ["dev-1"], 30)]
    assert acted(rules, images) == {"prod-1": 1}


def test_guide_filtering_on_image_age_old_guide_untagged_variant():
    rules = [rule(1, "untagged", PUSHED, 14)]
    images = [img("old", [], 15), img("young", [], 13), img("tagged", ["v1"], 30)]
    assert acted(rules, images) == {"old": 1}


def test_guide_filtering_on_image_count_keeps_one_untagged_image():
    rules = [rule(1, "untagged", COUNT, 1)]
    images = [img("u3", [], 3), img("u2", [], 2), img("u1", [], 1), img("t", ["v1"], 5)]
    assert acted(rules, images) == {"u3": 1, "u2": 1}


def test_guide_filtering_on_last_pulled_time_archives_images_not_pulled_for_90_days():
    rules = [rule(1, "any", PULLED, 90, action="transition")]
    images = [img("pulled-lately", ["a"], 200, last_pulled_at=ago(10)),
              img("never-pulled", ["b"], 200),
              img("restored-long-ago", [], 300, last_pulled_at=ago(150),
                  last_activated_at=ago(100)),
              img("restored-lately", [], 300, last_pulled_at=ago(150),
                  last_activated_at=ago(10))]
    found = verdicts(rules, images)
    assert set(found) == {"never-pulled", "restored-long-ago"}
    assert {(v.rule.priority, v.action, v.target) for v in found.values()} == {
        (1, "transition", "archive")}


def test_guide_filtering_on_archive_transition_time_expires_images_archived_over_365_days():
    rules = [rule(1, "any", TRANSITIONED, 365, storage="archive")]
    archived = [img("archived-400d", ["a"], 500, storage_class="archive",
                    last_archived_at=ago(400)),
                img("archived-100d", [], 500, storage_class="archive",
                    last_archived_at=ago(100))]
    found = verdicts(rules, archived, "archive")
    assert {d: (v.rule.priority, v.action, v.target) for d, v in found.items()} == {
        "archived-400d": (1, "expire", None)}
    assert acted(rules, [img("standard", ["a"], 1000)], "standard") == {}


@pytest.mark.parametrize("kind", KINDS)
def test_guide_archive_example_1_archives_prod_images_pushed_over_30_days_ago(kind):
    rules = [rule(1, "tagged", PUSHED, 30, tags_of(kind, "prod"), action="transition")]
    found = verdicts(rules, [img("prod-1", ["prod-1"], 31), img("prod-2", ["prod-2"], 29)])
    assert {d: (v.rule.priority, v.action, v.target) for d, v in found.items()} == {
        "prod-1": (1, "transition", "archive")}


def test_guide_archive_example_3_combining_archive_and_expire_rules():
    rules = [rule(1, "any", PUSHED, 30, action="transition"),
             rule(2, "any", TRANSITIONED, 365, storage="archive")]
    standard = verdicts(rules, [img("std-40d", ["a"], 40), img("std-10d", ["b"], 10)])
    archive = verdicts(rules, [img("arc-400d", ["c"], 500, storage_class="archive",
                                   last_archived_at=ago(400)),
                               img("arc-100d", [], 500, storage_class="archive",
                                   last_archived_at=ago(100))], "archive")
    assert {d: (v.rule.priority, v.action) for d, v in standard.items()} == {
        "std-40d": (1, "transition")}
    assert {d: (v.rule.priority, v.action) for d, v in archive.items()} == {
        "arc-400d": (2, "expire")}
    every = [*standard.values(), *archive.values()]
    assert sum(v.action == "expire" for v in every) == 1       # expiringImageTotalCount
    assert sum(v.target == "archive" for v in every) == 1      # transitioningImageTotalCounts


# Pull time and age time (§2.1) --------------------------------------------------------------

@pytest.mark.parametrize("pulled, activated, expected", [
    (None, None, ago(200)),        # never pulled: push time
    (ago(10), None, ago(10)),      # pulled: last pull
    (None, ago(100), ago(100)),    # restored, never pulled: restore time
    (ago(150), ago(100), ago(100)),  # restored, not pulled since: restore time
    (ago(5), ago(100), ago(5)),    # restored and pulled since: last pull
], ids=["never-pulled", "pulled", "restored-never-pulled", "restored-pulled-before",
        "restored-pulled-since"])
def test_pull_time_is_last_pull_since_restore_else_restore_else_push(pulled, activated,
                                                                     expected):
    image = img("x", [], 200, last_pulled_at=pulled, last_activated_at=activated)
    assert image.pull_time == expected


def test_since_image_pulled_uses_push_time_of_a_never_pulled_image():
    rules = [rule(1, "any", PULLED, 90, action="transition")]
    assert acted(rules, [img("old", [], 91), img("young", [], 89)]) == {"old": 1}


def test_restored_image_ages_and_sorts_from_its_restore_time():
    assert img("x", [], 300, last_activated_at=ago(1)).age_time == ago(1)
    aged = [rule(1, "any", PUSHED, 30)]
    assert acted(aged, [img("restored", [], 300, last_activated_at=ago(10))]) == {}
    counted = [rule(1, "any", COUNT, 2)]
    images = [img("restored", ["r"], 300, last_activated_at=ago(1)), img("d3", ["a"], 3),
              img("d5", ["b"], 5)]
    assert acted(counted, images) == {"d5": 1}


# "older than N days" is strict; test data kept an hour off the edge ---------------------------

@pytest.mark.parametrize("count_type, field, action, storage", [
    (PUSHED, "pushed", "expire", None),
    (PULLED, "last_pulled_at", "transition", None),
    (TRANSITIONED, "last_archived_at", "expire", "archive"),
])
def test_older_than_n_days_selects_just_past_n_days_and_not_just_before(count_type, field,
                                                                        action, storage):
    rules = [rule(1, "any", count_type, 100, action=action, storage=storage)]
    images = []
    for name, when in (("past", ago(100, hours=1)), ("before", ago(100, hours=-1))):
        extra = {"storage_class": storage} if storage else {}
        if field == "pushed":
            images.append(Image(name, (name,), when, **extra))
        else:
            images.append(Image(name, (name,), ago(400), **{field: when}, **extra))
    assert acted(rules, images, storage or "standard") == {"past": 1}


# Storage classes are evaluated apart ----------------------------------------------------------

def test_archived_images_are_seen_only_by_archive_rules():
    rules = [rule(1, "any", COUNT, 1),
             rule(2, "untagged", TRANSITIONED, 90, storage="archive")]
    policy = lp.parse(json.dumps({"rules": rules}))
    assert [r.priority for r in Evaluation(policy, "archive", NOW).rules] == [2]
    assert [r.priority for r in Evaluation(policy, "standard", NOW).rules] == [1]
    archived = [img(f"arc-{d}", [], 500, storage_class="archive", last_archived_at=ago(d))
                for d in (30, 60, 100, 200)]
    assert acted(rules, archived, "archive") == {"arc-100": 2, "arc-200": 2}
    tagged = [img("arc-tagged", ["v1"], 500, storage_class="archive", last_archived_at=ago(300))]
    assert acted(rules, tagged, "archive") == {}


# Tag matching: AND of prefixes/patterns, wildcards (§2.3) -------------------------------------

def matches(selection: dict, tags) -> bool:
    policy = lp.parse(json.dumps({"rules": [rule(1, "tagged", COUNT, 1, selection)]}))
    return policy.rules[0].matches(tuple(tags))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tags, expected", [
    (["alpha-1"], False), (["beta-1"], False), ([], False),
    (["alpha-1", "beta-1"], True), (["gamma", "beta-2", "alpha-9"], True),
])
def test_every_prefix_or_pattern_of_a_rule_must_match_some_tag(kind, tags, expected):
    assert matches(tags_of(kind, "alpha", "beta"), tags) is expected


def test_two_prefixes_may_match_the_same_tag():
    assert matches({"tagPrefixList": ["alpha", "alphab"]}, ["alphabeta"])


@pytest.mark.parametrize("prefix, tag, expected", [
    ("prod", "prod", True), ("prod", "production", True), ("prod", "myprod", False),
    ("prod", "Prod-1", False),
])
def test_prefix_matches_the_start_of_a_tag(prefix, tag, expected):
    assert matches({"tagPrefixList": [prefix]}, [tag]) is expected


@pytest.mark.parametrize("pattern, tag, expected", [
    ("prod*", "prod", True), ("prod*", "prod1", True), ("prod*", "production-team1", True),
    ("prod*", "myprod", False),
    ("*prod*", "repo-production", True), ("*prod*", "prod-team", True),
    ("*prod*", "pro-d", False),
    ("prod", "prod", True), ("prod", "prod1", False), ("prod", "myprod", False),
    ("*", "anything", True), ("v1.*", "v1x2", False), ("v1.*", "v1.2", True),
    ("*test*1*2*3", "mytest-1-2-3", True), ("*test*1*2*3", "mytest-1-2-3-4", False),
    ("a*b", "ab", True), ("a*b", "a-b-c", False),
])
def test_pattern_wildcard_matches_any_sequence_and_the_whole_tag(pattern, tag, expected):
    assert matches({"tagPatternList": [pattern]}, [tag]) is expected


def test_untagged_images_never_match_tagged_rules_and_any_matches_both():
    rules = [rule(1, "tagged", COUNT, 1, {"tagPatternList": ["*"]}), rule(2, "any", COUNT, 1)]
    images = [img("t2", ["b"], 2), img("t1", ["a"], 3), img("u1", [], 1), img("u0", [], 0.5)]
    # rule 1 keeps t2, expires t1; rule 2 counts u0, u1, t2, t1 and acts on u1 only.
    assert acted(rules, images) == {"t1": 1, "u1": 2}
