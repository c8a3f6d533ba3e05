"""Wildcards in actions, resources and ARNs."""
import pytest

from berth.iam.policy.matching import (action_matches, arn_account, arn_like, compile_glob,
                                       glob_match, like)


@pytest.mark.parametrize("pattern,value,expected", [
    ("*", "", True),
    ("*", "anything at all", True),
    ("", "", True),
    ("", "x", False),
    ("abc", "abc", True),
    ("abc", "abcd", False),
    ("a*c", "abbbc", True),
    ("a*c", "ac", True),
    ("a*c", "acb", False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("a??", "abc", True),
    ("*.txt", "notes.txt", True),
    ("*.txt", "notes.txt.bak", False),
    ("t1.*", "t1.micro", True),
    ("t1.*", "t2.micro", False),
    ("*a*b*", "xxaxxbxx", True),
    ("*a*b*", "xxbxxaxx", False),
    ("home/*/", "home/alice/", True),
    ("home/?/", "home/ab/", False),
])
def test_glob(pattern, value, expected):
    assert like(pattern, value) is expected


def test_glob_is_case_sensitive_unless_asked():
    assert not like("Owner", "owner")
    assert like("Owner", "owner", ignore_case=True)
    assert like("OWN*", "owner", ignore_case=True)


@pytest.mark.timeout(5)
def test_pathological_patterns_stay_fast():
    pattern = compile_glob("a*" * 40 + "b")
    assert not glob_match(pattern, "a" * 20000)
    assert glob_match(pattern, "a" * 20000 + "b")


@pytest.mark.parametrize("pattern,action,expected", [
    ("*", "ecr:BatchGetImage", True),
    ("ecr:*", "ecr:BatchGetImage", True),
    ("ecr:BatchGetImage", "ecr:batchgetimage", True),   # action names ignore case
    ("ECR:BATCHGETIMAGE", "ecr:BatchGetImage", True),
    ("ecr:Batch*", "ecr:BatchCheckLayerAvailability", True),
    ("ecr:Batch*", "ecr:PutImage", False),
    ("ecr:Get*", "ecr:GetDownloadUrlForLayer", True),
    ("ecr:*Image", "ecr:PutImage", True),
    ("ecr:*Image", "ecr:PutImageTagMutability", False),
    ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
    ("iam:*Report", "iam:GetOrganizationsAccessReport", True),
    ("iam:*Report", "iam:GenerateCredentialReport", True),
    ("iam:*Report", "iam:GetUser", False),
    ("s3:*", "ecr:BatchGetImage", False),
    ("ecr:BatchGetImag?", "ecr:BatchGetImage", True),
])
def test_action_matching(pattern, action, expected):
    assert action_matches(pattern, action) is expected


def test_arn_like_matches_segment_by_segment():
    # The IAM guide's example: StringLike lets the first * swallow colons, ArnLike does not.
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert like(pattern, value)
    assert not arn_like(pattern, value)
    assert arn_like(pattern, "arn:aws:someservice:us-east-2:111122223333:finance/document.txt")


@pytest.mark.parametrize("pattern,value,expected", [
    ("*", "arn:aws:ecr:us-east-1:123456789012:repository/web", True),
    ("*", "*", True),
    ("arn:aws:ecr:*:123456789012:repository/*",
     "arn:aws:ecr:eu-west-1:123456789012:repository/team-a/web", True),
    ("arn:aws:ecr:*:123456789012:repository/*",
     "arn:aws:ecr:eu-west-1:111122223333:repository/team-a/web", False),
    ("arn:aws:ecr:us-east-1:123456789012:repository/team-a/*",
     "arn:aws:ecr:us-east-1:123456789012:repository/team-b/web", False),
    ("arn:aws:ecr:us-east-1:123456789012:repository/team-?/web",
     "arn:aws:ecr:us-east-1:123456789012:repository/team-a/web", True),
    # a wildcard in one segment never spans into the next
    ("arn:aws:ecr:*:repository/web", "arn:aws:ecr:us-east-1:123456789012:repository/web", False),
    # the resource segment keeps its colons
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b:c", True),
    ("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar-logs", True),
    ("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar", False),
    # fewer than six segments: the last pattern segment covers the rest
    ("arn:aws:ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/web", True),
    ("arn:aws:ecr:*", "arn:aws:s3:::bucket", False),
    ("arn:*", "arn:aws:s3:::bucket", True),
    # ARNs compare case-sensitively
    ("arn:aws:ecr:us-east-1:123456789012:repository/Web",
     "arn:aws:ecr:us-east-1:123456789012:repository/web", False),
    # a full ARN pattern never matches something that is not an ARN
    ("arn:aws:ecr:*:*:*", "*", False),
    ("arn:aws:ecr:*:*:*", "arn:aws:ecr:us-east-1", False),
])
def test_arn_matching(pattern, value, expected):
    assert arn_like(pattern, value) is expected


@pytest.mark.parametrize("arn,account", [
    ("arn:aws:ecr:us-east-1:123456789012:repository/team-a/web", "123456789012"),
    ("arn:aws:iam::111122223333:user/bob", "111122223333"),
    ("arn:aws:s3:::bucket", None),
    ("*", None),
    ("not:an:arn:at:all:really", None),
])
def test_arn_account(arn, account):
    assert arn_account(arn) == account
