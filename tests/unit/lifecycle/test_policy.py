"""Lifecycle policy parsing and validation (berth.lifecycle.policy): the schema mistakes worded
as ECR's validator (fge json-schema-validator) words them, the checks between fields and
rules (C1-C15 of the research spec), and the guide's own policies, which must parse."""
from __future__ import annotations

import json

import pytest

from berth.lifecycle import policy as lp
from berth.lifecycle.errors import PolicyInvalid

DROP = object()
ONE_OF = "instance failed to match exactly one schema (matched 0 out of 2)"


def _apply(base: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if value is DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def sel(**changes) -> dict:
    return _apply({"tagStatus": "untagged", "countType": "imageCountMoreThan",
                   "countNumber": 1}, changes)


def since(count_type="sinceImagePushed", **changes) -> dict:
    return sel(**{"countType": count_type, "countUnit": "days", **changes})


def act(**changes) -> dict:
    return _apply({"type": "expire"}, changes)


def rule(priority=1, selection=None, action=None, **changes) -> dict:
    given = {k: v for k, v in (("selection", selection), ("action", action)) if v is not None}
    return _apply({"rulePriority": priority, "selection": sel(), "action": act()},
                  {**given, **changes})


def archive_rule(priority=2, status="any", days=365, **changes) -> dict:
    return rule(priority, since("sinceImageTransitioned", tagStatus=status, countNumber=days,
                                storageClass="archive", **changes))


def doc(*rules) -> str:
    return json.dumps({"rules": list(rules)})


def message_of(text: str) -> str:
    with pytest.raises(PolicyInvalid) as caught:
        lp.parse(text)
    return caught.value.message


# §4.2 schema mistakes M1-M14, worded as fge ---------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param("not json", "Could not map policyString into LifecyclePolicy.", id="M1-not-json"),
    pytest.param("[]", "Could not map policyString into LifecyclePolicy.", id="M1-list"),
    pytest.param('"rules"', "Could not map policyString into LifecyclePolicy.", id="M1-string"),
    pytest.param("{}", 'object has missing required properties (["rules"])', id="M2-no-rules"),
    pytest.param('{"rules": "x"}', 'instance type (string) does not match any allowed '
                 'primitive type (allowed: ["array"])', id="M2-rules-not-array"),
    pytest.param('{"rules": ["x"]}', 'instance type (string) does not match any allowed '
                 'primitive type (allowed: ["object"])', id="M3-rule-string"),
    pytest.param('{"rules": [null]}', 'instance type (null) does not match any allowed '
                 'primitive type (allowed: ["object"])', id="M3-rule-null"),
    pytest.param(doc(rule(rulePriority=DROP)),
                 'object has missing required properties (["rulePriority"])',
                 id="M4-no-priority"),
    pytest.param(doc(rule(action=DROP, selection=DROP)),
                 'object has missing required properties (["action","selection"])',
                 id="M4-no-action-selection"),
    pytest.param(doc(rule(x=1)), 'object instance has properties which are not allowed by '
                 'the schema: ["x"]', id="M5-rule-unknown"),
    pytest.param(doc(rule(action={})), 'object has missing required properties (["type"])',
                 id="M6-action-no-type"),
    pytest.param(doc(rule(action=act(unknown=1))), 'object instance has properties which '
                 'are not allowed by the schema: ["unknown"]', id="M7-action-unknown"),
    pytest.param(doc(rule(action=act(type="keep"))), 'instance value ("keep") not found in '
                 'enum (possible values: ["expire","transition"])', id="M8-action-type"),
    pytest.param(doc(rule(selection=sel(countNumber=DROP))),
                 'object has missing required properties (["countNumber"])',
                 id="M9-no-countNumber"),
    pytest.param(doc(rule(selection=sel(tagStatus=DROP))),
                 'object has missing required properties (["tagStatus"])',
                 id="M9-no-tagStatus"),
    pytest.param(doc(rule(selection={})), 'object has missing required properties '
                 '(["countNumber","countType","tagStatus"])', id="M9-empty-selection"),
    pytest.param(doc(rule(selection=sel(unknown=1))), 'object instance has properties which '
                 'are not allowed by the schema: ["unknown"]', id="M10-selection-unknown"),
    pytest.param(doc(rule(selection=sel(tagStatus="unknown"))), 'instance value ("unknown") '
                 'not found in enum (possible values: ["any","tagged","untagged"])',
                 id="M11-tagStatus"),
    pytest.param(doc(rule(selection=sel(countType="bogus"))), ONE_OF, id="M12-countType"),
    pytest.param(doc(rule(selection=since(countUnit="hours"))), 'instance value ("hours") '
                 'not found in enum (possible values: ["days"])', id="M13-countUnit"),
    pytest.param(doc(rule(selection=sel(countNumber=0))), 'numeric instance is lower than the '
                 'required minimum (minimum: 1, found: 0)', id="M14-countNumber-0"),
    pytest.param(doc(rule(0)), 'numeric instance is lower than the required minimum '
                 '(minimum: 1, found: 0)', id="M14-rulePriority-0"),
    pytest.param(doc(rule("1")), 'instance type (string) does not match any allowed '
                 'primitive type (allowed: ["integer"])', id="type-rulePriority-string"),
    pytest.param(doc(rule(selection=sel(tagStatus="tagged", tagPatternList=None))),
                 'instance type (null) does not match any allowed primitive type '
                 '(allowed: ["array"])', id="field-tagPatternList-null"),
    pytest.param(doc(rule(selection=since(countUnit=None))), ONE_OF,
                 id="field-countUnit-null"),
    pytest.param(doc(rule(action=act(targetStorageClass=None))), ONE_OF,
                 id="field-C15-expire-targetStorageClass-null"),
])
def test_schema_mistake_is_worded_as_ecr_words_it(text, expected):
    assert message_of(text) == expected


# §4.3 mistakes between fields and rules with a field-reported wording ------------------------

UNTAGGED_TWICE = "Only one rule can select Untagged images per storage class."
ANY_LAST = "Rule for tagStatus=ANY must have the lowest priority per storage class"
TAGGED_LIST = "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED."


@pytest.mark.parametrize("rules, expected", [
    pytest.param([rule(1), rule(2, since())], UNTAGGED_TWICE, id="C8-two-untagged"),
    pytest.param([archive_rule(1, "untagged"), archive_rule(2, "untagged", days=400)],
                 UNTAGGED_TWICE, id="C8-two-untagged-archive"),
    pytest.param([rule(1, sel(tagStatus="any")), rule(2)], ANY_LAST, id="C2-any-not-last"),
    pytest.param([rule(1, sel(tagStatus="any")), rule(2, since(tagStatus="any"))], ANY_LAST,
                 id="C3-two-any"),
    pytest.param([archive_rule(1), archive_rule(2, "untagged")], ANY_LAST,
                 id="C2-any-not-last-archive"),
    pytest.param([rule(1, sel(tagStatus="tagged"))], TAGGED_LIST, id="C4-tagged-no-list"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=[]))], TAGGED_LIST,
                 id="C4-tagged-empty-list"),
    pytest.param([rule(1, sel(countUnit="days"))], ONE_OF, id="C10-countUnit-with-count"),
    pytest.param([rule(1, sel(countType="sinceImagePushed"))], ONE_OF,
                 id="C10-sinceImagePushed-no-countUnit"),
    pytest.param([rule(1, sel(countType="sinceImagePulled"),
                       act(type="transition", targetStorageClass="archive"))], ONE_OF,
                 id="C10-sinceImagePulled-no-countUnit"),
    pytest.param([rule(1, sel(countType="sinceImageTransitioned", storageClass="archive",
                              countNumber=365))], ONE_OF,
                 id="C10-sinceImageTransitioned-no-countUnit"),
    pytest.param([rule(1, action=act(type="transition"))], ONE_OF,
                 id="C15-transition-no-target"),
    pytest.param([rule(1, action=act(targetStorageClass="archive"))], ONE_OF,
                 id="C15-expire-with-target"),
])
def test_rule_mistake_with_a_reported_wording(rules, expected):
    assert message_of(doc(*rules)) == expected


# Mistakes ECR rejects with a wording nobody has reported: only the refusal is tested ----------

TRANSITION = act(type="transition", targetStorageClass="archive")


@pytest.mark.parametrize("rules", [
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=["a"])), rule(1)],
                 id="C1-duplicate-priority"),
    pytest.param([rule(1, sel(tagPrefixList=["a"]))], id="C5-prefixes-on-untagged"),
    pytest.param([rule(1, sel(tagStatus="any", tagPatternList=["a*"]))],
                 id="C5-patterns-on-any"),
    pytest.param([rule(1, sel(tagPrefixList=[]))], id="C5-empty-list-on-untagged"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=["a"],
                              tagPatternList=["b*"]))], id="C6-both-lists"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=[],
                              tagPatternList=["b*"]))], id="C6-both-lists-one-empty"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPatternList=["test*1*2*3*4*5*6"]))],
                 id="C7-guide-six-wildcards"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPatternList=["a*b*c*d*e*"]))],
                 id="C7-five-wildcards"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=["a", "b"])),
                  rule(2, sel(tagStatus="tagged", tagPrefixList=["a", "b"]))],
                 id="C9-duplicate-prefixes"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPatternList=["a*"])),
                  rule(2, since(tagStatus="tagged", tagPatternList=["a*"]))],
                 id="C9-duplicate-patterns"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=["a", "b"])),
                  rule(2, sel(tagStatus="tagged", tagPrefixList=["b", "a"]))],
                 id="C9-same-prefix-set-reordered"),
    pytest.param([rule(1, since("sinceImagePulled", countNumber=90))],
                 id="C11-sinceImagePulled-expire"),
    pytest.param([rule(1, since("sinceImageTransitioned", countNumber=365))],
                 id="C12-sinceImageTransitioned-default-standard"),
    pytest.param([rule(1, since("sinceImageTransitioned", countNumber=365,
                                storageClass="standard"))],
                 id="C12-sinceImageTransitioned-standard"),
    pytest.param([rule(1, since("sinceImageTransitioned", countNumber=365,
                                storageClass="archive"), TRANSITION)],
                 id="C12-sinceImageTransitioned-transition"),
    pytest.param([archive_rule(1, days=89)], id="C13-archive-under-90-days"),
    pytest.param([rule(1, since(storageClass="archive"))], id="C14-archive-sinceImagePushed"),
    pytest.param([rule(1, sel(storageClass="archive"))], id="C14-archive-imageCountMoreThan"),
    pytest.param([rule(1, since("sinceImagePulled", storageClass="archive"), TRANSITION)],
                 id="C14-archive-sinceImagePulled"),
    pytest.param([rule(1, action=act(type="transition", targetStorageClass="standard"))],
                 id="C15-transition-to-standard"),
    pytest.param([rule(p, sel(tagStatus="tagged", tagPrefixList=[f"t{p}"]))
                  for p in range(1, 52)], id="quota-51-rules"),
])
def test_rule_mistake_is_refused(rules):
    with pytest.raises(PolicyInvalid):
        lp.parse(doc(*rules))


# Valid policies -----------------------------------------------------------------------------

def tagged(kind, *stems):
    return {kind: [s + "*" if kind == "tagPatternList" else s for s in stems]}


def guide_policies(kind):
    """The guide's example policies (§3), with prefix lists or pattern lists."""
    t = lambda *stems, **c: sel(tagStatus="tagged", **tagged(kind, *stems), **c)
    return {
        "multiple-rules": [rule(1, t("prod")), rule(2, t("beta"))],
        "multiple-tags": [rule(1, t("alpha", "beta", countType="sinceImagePushed",
                                    countUnit="days", countNumber=5))],
        "all-images-a": [rule(1, sel(tagStatus="any"))],
        "all-images-b": [rule(1, t("alpha")), rule(2, since(countNumber=1)),
                         rule(3, sel(tagStatus="any"))],
        "image-age": [rule(1, t("prod", countType="sinceImagePushed", countUnit="days",
                                countNumber=14))],
        "image-count": [rule(1, sel(countNumber=1))],
        "last-pulled": [rule(1, since("sinceImagePulled", tagStatus="any", countNumber=90),
                             TRANSITION)],
        "archive-time": [archive_rule(1)],
        "archive-1": [rule(1, t("prod", countType="sinceImagePushed", countUnit="days",
                                countNumber=30), TRANSITION)],
        "archive-3-combined": [rule(1, since(tagStatus="any", countNumber=30), TRANSITION),
                               archive_rule(2)],
    }


@pytest.mark.parametrize("kind", ["tagPrefixList", "tagPatternList"])
def test_guide_example_policies_parse(kind):
    for name, rules in guide_policies(kind).items():
        policy = lp.parse(doc(*rules))
        assert [r.priority for r in policy.rules] == [r["rulePriority"] for r in rules], name


def test_combined_archive_example_allows_one_any_rule_per_storage_class():
    policy = lp.parse(doc(*guide_policies("tagPatternList")["archive-3-combined"]))
    assert [(r.tag_status, r.storage_class, r.count_type, r.action) for r in policy.rules] == [
        ("any", "standard", "sinceImagePushed", "transition"),
        ("any", "archive", "sinceImageTransitioned", "expire")]
    assert [r.priority for r in policy.for_class("archive")] == [2]


@pytest.mark.parametrize("rules", [
    pytest.param([archive_rule(1), rule(2, sel(tagStatus="any"))], id="any-last-per-class"),
    pytest.param([rule(1), archive_rule(2, "untagged")], id="one-untagged-per-class"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPatternList=["*test*1*2*3",
                                                                  "test*1*2*3*"]))],
                 id="C7-guide-four-wildcards"),
    pytest.param([archive_rule(1, days=90)], id="C13-archive-90-days"),
    pytest.param([rule(1, sel(tagStatus="tagged", tagPrefixList=["a"])),
                  rule(2, sel(tagStatus="tagged", tagPatternList=["b*"]))],
                 id="C6-each-rule-its-own-list-kind"),
    pytest.param([rule(p, sel(tagStatus="tagged", tagPrefixList=[f"t{p}"]))
                  for p in range(1, 51)], id="quota-50-rules"),
    pytest.param([rule(1, description="keep the newest", selection=since(
        "sinceImagePushed", storageClass="standard"))], id="description-and-standard"),
])
def test_valid_policy_parses(rules):
    assert len(lp.parse(doc(*rules)).rules) == len(rules)


def test_rules_come_out_sorted_by_priority_and_the_text_is_kept():
    rules = [rule(100, sel(tagStatus="any")), rule(2, sel(tagStatus="tagged",
                                                          tagPrefixList=["a"])),
             rule(10, since())]
    text = doc(*rules)
    policy = lp.parse(text)
    assert [r.priority for r in policy.rules] == [2, 10, 100]
    assert policy.text == text


def test_rule_fields_are_read_from_the_policy():
    (only,) = lp.parse(doc(rule(7, since(tagStatus="tagged", tagPrefixList=["prod", "v"],
                                         countNumber=14), description="d"))).rules
    assert (only.priority, only.tag_status, only.prefixes, only.patterns) == (
        7, "tagged", ("prod", "v"), ())
    assert (only.storage_class, only.count_type, only.count, only.action, only.description) \
        == ("standard", "sinceImagePushed", 14, "expire", "d")
