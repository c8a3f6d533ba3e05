"""EventBridge event patterns: each operator matches what the EventBridge user guide says it
matches, and a pattern that is not valid is refused with the reason."""
import pytest

from berth.notifications.patterns import PatternError, compile_pattern, matches

EVENT = {
    "version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr",
    "account": "123456789012", "time": "2026-12-05T10:00:00Z", "region": "us-west-2",
    "resources": [],
    "detail": {"result": "SUCCESS", "repository-name": "team-a/web", "action-type": "PUSH",
               "image-digest": "sha256:ab", "image-tag": "v1.2", "size": 42,
               "labels": ["blue", "green"], "nothing": None, "ok": True},
}


def match(pattern) -> bool:
    return matches(compile_pattern(pattern), EVENT)


@pytest.mark.parametrize("pattern, expected", [
    ({"source": ["aws.ecr"]}, True),
    ({"source": ["aws.s3", "aws.ecr"]}, True),  # values of one field: OR
    ({"source": ["aws.s3"]}, False),
    ({"source": ["AWS.ECR"]}, False),  # case-sensitive
    ({"source": ["aws.ecr"], "detail-type": ["ECR Image Action"]}, True),  # fields: AND
    ({"source": ["aws.ecr"], "detail-type": ["ECR Image Scan"]}, False),
    ({"detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]}}, True),
    ({"detail": {"action-type": ["DELETE"]}}, False),
    ({"detail": {"size": [42]}}, True),
    ({"detail": {"size": [42.0]}}, True),  # numbers compare as numbers
    ({"detail": {"size": ["42"]}}, False),  # ... not as strings
    ({"detail": {"labels": ["green"]}}, True),  # an event array: any element
    ({"detail": {"labels": ["red"]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"ok": [True]}}, True),
    ({"detail": {"ok": [1]}}, False),  # true is not 1
    ({"detail": {"missing": ["x"]}}, False),
    ({"detail": {"repository-name": {"nested": ["x"]}}}, False),  # a string is no object
])
def test_exact_values(pattern, expected):
    assert match(pattern) is expected


@pytest.mark.parametrize("pattern, expected", [
    ({"detail": {"repository-name": [{"prefix": "team-a/"}]}}, True),
    ({"detail": {"repository-name": [{"prefix": "team-b/"}]}}, False),
    ({"detail": {"repository-name": [{"prefix": "TEAM-A"}]}}, False),
    ({"detail": {"repository-name": [{"prefix": {"equals-ignore-case": "TEAM-A"}}]}}, True),
    ({"detail": {"size": [{"prefix": "4"}]}}, False),  # prefix is for strings
    ({"time": [{"prefix": "2026-12-05"}]}, True),
    ({"detail": {"repository-name": [{"suffix": "/web"}]}}, True),
    ({"detail": {"repository-name": [{"suffix": "/api"}]}}, False),
    ({"detail": {"action-type": [{"equals-ignore-case": "push"}]}}, True),
    ({"detail": {"missing": [{"prefix": ""}]}}, False),
])
def test_prefix_suffix_and_ignore_case(pattern, expected):
    assert match(pattern) is expected


@pytest.mark.parametrize("pattern, expected", [
    ({"detail": {"action-type": [{"anything-but": "DELETE"}]}}, True),
    ({"detail": {"action-type": [{"anything-but": "PUSH"}]}}, False),
    ({"detail": {"action-type": [{"anything-but": ["DELETE", "PUSH"]}]}}, False),
    ({"detail": {"size": [{"anything-but": [1, 2]}]}}, True),
    ({"detail": {"size": [{"anything-but": 42}]}}, False),
    ({"detail": {"image-tag": [{"anything-but": {"prefix": "v1."}}]}}, False),
    ({"detail": {"image-tag": [{"anything-but": {"prefix": "v2."}}]}}, True),
    ({"detail": {"image-tag": [{"anything-but": {"suffix": ".2"}}]}}, False),
    ({"detail": {"action-type": [{"anything-but": {"equals-ignore-case": "push"}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # absent matches only exists
])
def test_anything_but(pattern, expected):
    assert match(pattern) is expected


@pytest.mark.parametrize("pattern, expected", [
    ({"detail": {"size": [{"numeric": [">", 0]}]}}, True),
    ({"detail": {"size": [{"numeric": [">", 42]}]}}, False),
    ({"detail": {"size": [{"numeric": [">=", 42]}]}}, True),
    ({"detail": {"size": [{"numeric": ["<", 42]}]}}, False),
    ({"detail": {"size": [{"numeric": ["<=", 42]}]}}, True),
    ({"detail": {"size": [{"numeric": ["=", 42]}]}}, True),
    ({"detail": {"size": [{"numeric": [">", 0, "<=", 42]}]}}, True),
    ({"detail": {"size": [{"numeric": [">", 0, "<", 42]}]}}, False),
    ({"detail": {"image-tag": [{"numeric": [">", 0]}]}}, False),  # not a number
])
def test_numeric(pattern, expected):
    assert match(pattern) is expected


@pytest.mark.parametrize("pattern, expected", [
    ({"detail": {"image-tag": [{"exists": True}]}}, True),
    ({"detail": {"image-tag": [{"exists": False}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": [{"exists": True}]}, False),  # exists looks at leaves, not objects
    ({"nothing": {"deeper": [{"exists": False}]}}, False),  # an absent object cannot match
])
def test_exists(pattern, expected):
    assert match(pattern) is expected


def test_or_takes_any_alternative():
    assert match({"$or": [{"source": ["aws.s3"]}, {"detail": {"size": [42]}}]})
    assert not match({"$or": [{"source": ["aws.s3"]}, {"detail": {"size": [41]}}]})


@pytest.mark.parametrize("pattern, reason", [
    ("{not json", "not JSON"),
    ("[]", "non-empty JSON object"),
    ("{}", "non-empty JSON object"),
    ({"source": "aws.ecr"}, "must be in an array"),
    ({"source": []}, "empty arrays"),
    ({"detail": {}}, "empty object"),
    ({"source": [{"prefix": 1}]}, "prefix takes a string"),
    ({"source": [{"prefix": "a", "suffix": "b"}]}, "one operator"),
    ({"source": [{"wildcard-ish": "a"}]}, "unrecognized match type"),
    ({"source": [["nested"]]}, "one operator"),
    ({"detail": {"n": [{"numeric": [">"]}]}}, "one or two comparisons"),
    ({"detail": {"n": [{"numeric": ["~", 1]}]}}, "unrecognized numeric operator"),
    ({"detail": {"n": [{"numeric": [">", "1"]}]}}, "numbers within"),
    ({"detail": {"n": [{"numeric": [">", 1e10]}]}}, "numbers within"),
    ({"detail": {"n": [{"numeric": [">", 1, ">", 2]}]}}, "lower and an upper"),
    ({"detail": {"n": [{"numeric": [">", 5, "<", 1]}]}}, "range is empty"),
    ({"detail": {"n": [{"exists": "yes"}]}}, "true or false"),
    ({"detail": {"n": [{"anything-but": ["a", 1]}]}}, "strings only or numbers only"),
    ({"detail": {"n": [{"anything-but": {"wildcard": "*"}}]}}, "anything-but takes"),
    ({"$or": [{"source": ["a"]}]}, "at least two"),
])
def test_invalid_patterns_are_refused_with_the_reason(pattern, reason):
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)
