"""The repository-policy and identity-policy examples of the Amazon ECR user guide."""
import pytest

from berth.iam.policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Principal, evaluate

from .builders import ACCOUNT, OTHER, REPO, identity, repo_arn, request, resource

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = ["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage",
        "ecr:UploadLayerPart"]

ALLOW_PUSH_PULL = resource(f"""{{
    "Version": "2012-10-17",
    "Statement": [{{
        "Sid": "AllowPushPull",
        "Effect": "Allow",
        "Principal": {{"AWS": ["arn:aws:iam::{ACCOUNT}:user/push-pull-user-1",
                              "arn:aws:iam::{ACCOUNT}:user/push-pull-user-2"]}},
        "Action": ["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability",
                   "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
                   "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]
    }}]
}}""", name="AllowPushPull")

CROSS_ACCOUNT_PUSH = resource({"Version": "2012-10-17", "Statement": [{
    "Sid": "AllowCrossAccountPush", "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
    "Action": ["ecr:BatchCheckLayerAvailability", "ecr:CompleteLayerUpload",
               "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]}]})

CROSS_ACCOUNT_PULL = resource({"Version": "2008-10-17", "Statement": [{
    "Sid": "AllowCrossAccountPull", "Effect": "Allow", "Principal": {"AWS": [OTHER]},
    "Action": PULL}]})

PULL_AND_ADMIN = resource({"Version": "2012-10-17", "Statement": [
    {"Sid": "AllowPull", "Effect": "Allow",
     "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/pull-user-1",
                           f"arn:aws:iam::{ACCOUNT}:user/pull-user-2"]},
     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]},
    {"Sid": "AllowAll", "Effect": "Allow",
     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin-user"}, "Action": ["ecr:*"]}]})

DENY_PULL = resource({"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyPull", "Effect": "Deny", "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})

IP_RESTRICTED = resource({"Version": "2012-10-17", "Id": "ECRPolicyId1", "Statement": [{
    "Sid": "IPAllow", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
    "Condition": {"NotIpAddress": {"aws:SourceIp": "54.240.143.0/24"}}}]})

READ_ONLY = identity({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow",
    "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
               "ecr:GetDownloadUrlForLayer", "ecr:GetRepositoryPolicy",
               "ecr:DescribeRepositories", "ecr:ListImages", "ecr:DescribeImages",
               "ecr:BatchGetImage", "ecr:GetLifecyclePolicy", "ecr:GetLifecyclePolicyPreview",
               "ecr:ListTagsForResource", "ecr:DescribeImageScanFindings"],
    "Resource": "*"}]}, name="AmazonEC2ContainerRegistryReadOnly")

ONE_REPOSITORY = identity({"Version": "2012-10-17", "Statement": [
    {"Sid": "ListImagesInRepository", "Effect": "Allow", "Action": ["ecr:ListImages"],
     "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/my-repo"},
    {"Sid": "GetAuthorizationToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
     "Resource": "*"},
    {"Sid": "ManageRepositoryContents", "Effect": "Allow",
     "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                "ecr:GetRepositoryPolicy", "ecr:DescribeRepositories", "ecr:ListImages",
                "ecr:DescribeImages", "ecr:BatchGetImage", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"],
     "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/my-repo"}]})

ECR_ALL = identity({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})


def user(name, account=ACCOUNT):
    return Principal.user(account, name)


@pytest.mark.parametrize("action", PULL + PUSH)
def test_allow_push_pull_users_need_no_identity_policy(action):
    decision = evaluate(request(user("push-pull-user-2"), action), [], ALLOW_PUSH_PULL)
    assert decision.outcome is ALLOW and decision.statement.sid == "AllowPushPull"


def test_allow_push_pull_does_not_cover_other_users_or_actions():
    assert evaluate(request(user("push-pull-user-3"), "ecr:PutImage"), [],
                    ALLOW_PUSH_PULL).outcome is IMPLICIT_DENY
    assert evaluate(request(user("push-pull-user-1"), "ecr:DeleteRepository"), [],
                    ALLOW_PUSH_PULL).outcome is IMPLICIT_DENY
    # a principal ARN is case-sensitive
    assert evaluate(request(user("Push-Pull-User-1"), "ecr:PutImage"), [],
                    ALLOW_PUSH_PULL).outcome is IMPLICIT_DENY


@pytest.mark.parametrize("action", PUSH + ["ecr:BatchCheckLayerAvailability"])
def test_cross_account_push(action):
    pusher = user("ci", OTHER)
    assert evaluate(request(pusher, action), [ECR_ALL], CROSS_ACCOUNT_PUSH).allowed
    assert evaluate(request(pusher, action), [], CROSS_ACCOUNT_PUSH).outcome is IMPLICIT_DENY


def test_cross_account_push_does_not_grant_pull():
    decision = evaluate(request(user("ci", OTHER), "ecr:BatchGetImage"), [ECR_ALL],
                        CROSS_ACCOUNT_PUSH)
    assert decision.outcome is IMPLICIT_DENY


@pytest.mark.parametrize("action", PULL)
def test_another_account_may_pull(action):
    puller = user("deploy", OTHER)
    pull_identity = identity({"Statement": [{"Effect": "Allow", "Action": PULL,
                                             "Resource": f"arn:aws:ecr:*:{ACCOUNT}:repository/*"}]})
    decision = evaluate(request(puller, action), [pull_identity], CROSS_ACCOUNT_PULL)
    assert decision.allowed
    assert decision.statements[1].sid == "AllowCrossAccountPull"


@pytest.mark.parametrize("action", PUSH + ["ecr:DeleteRepository", "ecr:SetRepositoryPolicy"])
def test_another_account_may_not_push_with_a_pull_grant(action):
    assert evaluate(request(user("deploy", OTHER), action), [ECR_ALL],
                    CROSS_ACCOUNT_PULL).outcome is IMPLICIT_DENY


def test_a_third_account_may_not_pull():
    assert evaluate(request(user("x", "999999999999")), [ECR_ALL],
                    CROSS_ACCOUNT_PULL).outcome is IMPLICIT_DENY


def test_pull_users_and_an_admin():
    assert evaluate(request(user("pull-user-1"), "ecr:BatchGetImage"), [], PULL_AND_ADMIN).allowed
    assert not evaluate(request(user("pull-user-1"), "ecr:PutImage"), [], PULL_AND_ADMIN).allowed
    admin = evaluate(request(user("admin-user"), "ecr:DeleteRepository"), [], PULL_AND_ADMIN)
    assert admin.allowed and admin.statement.sid == "AllowAll"


def test_deny_all_pulls_even_for_admins_and_root():
    admin = user("admin")
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        decision = evaluate(request(admin, action), [ECR_ALL], DENY_PULL)
        assert decision.outcome is EXPLICIT_DENY and decision.statement.sid == "DenyPull"
        assert evaluate(request(Principal.root(ACCOUNT), action), [],
                        DENY_PULL).outcome is EXPLICIT_DENY
        assert evaluate(request(user("x", OTHER), action), [ECR_ALL],
                        DENY_PULL).outcome is EXPLICIT_DENY
    assert evaluate(request(admin, "ecr:PutImage"), [ECR_ALL], DENY_PULL).allowed


@pytest.mark.parametrize("source,expected", [
    ("54.240.143.7", ALLOW), ("54.240.143.255", ALLOW), ("54.240.144.1", EXPLICIT_DENY),
    ("2001:db8::1", EXPLICIT_DENY), (None, EXPLICIT_DENY),
])
def test_restricting_access_to_specific_ip_addresses(source, expected):
    keys = {} if source is None else {"aws:SourceIp": source}
    decision = evaluate(request(user("alice"), "ecr:PutImage", keys=keys), [ECR_ALL],
                        IP_RESTRICTED)
    assert decision.outcome is expected
    if expected is EXPLICIT_DENY:
        assert decision.statement.policy == "ECRPolicyId1"  # labelled by the policy's Id


def test_repository_policy_vs_iam_policy_for_describing():
    repository_policy = resource({"Version": "2012-10-17", "Statement": [{
        "Sid": "ECR Repository Policy", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/username"},
        "Action": ["ecr:DescribeImages", "ecr:DescribeRepositories"]}]})
    iam_policy = identity({"Version": "2012-10-17", "Statement": [{
        "Sid": "ECRRepositoryPolicy", "Effect": "Allow",
        "Action": ["ecr:DescribeImages", "ecr:DescribeRepositories"],
        "Resource": [repo_arn("repository-name")]}]})
    ctx = request(user("username"), "ecr:DescribeImages", repo_arn("repository-name"))
    assert evaluate(ctx, [], repository_policy).allowed
    assert evaluate(ctx, [iam_policy], None).allowed
    other_repo = request(user("username"), "ecr:DescribeImages", repo_arn("other"))
    assert not evaluate(other_repo, [iam_policy], None).allowed


@pytest.mark.parametrize("action,expected", [
    ("ecr:BatchGetImage", ALLOW), ("ecr:GetDownloadUrlForLayer", ALLOW),
    ("ecr:DescribeImageScanFindings", ALLOW), ("ecr:PutImage", IMPLICIT_DENY),
    ("ecr:InitiateLayerUpload", IMPLICIT_DENY), ("ecr:DeleteRepository", IMPLICIT_DENY),
])
def test_read_only_managed_policy(action, expected):
    assert evaluate(request(user("reader"), action), [READ_ONLY]).outcome is expected


@pytest.mark.parametrize("action,arn,expected", [
    ("ecr:PutImage", repo_arn("my-repo"), ALLOW),
    ("ecr:ListImages", repo_arn("my-repo"), ALLOW),
    ("ecr:PutImage", repo_arn("other-repo"), IMPLICIT_DENY),
    ("ecr:PutImage", f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/my-repo", IMPLICIT_DENY),
    ("ecr:GetAuthorizationToken", "*", ALLOW),
    ("ecr:DeleteRepository", repo_arn("my-repo"), IMPLICIT_DENY),
])
def test_accessing_one_repository(action, arn, expected):
    assert evaluate(request(user("dev"), action, arn), [ONE_REPOSITORY]).outcome is expected


def test_public_pull_policy():
    public = resource({"Version": "2008-10-17", "Statement": [{
        "Sid": "Public", "Effect": "Allow", "Principal": "*",
        "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                   "ecr:DescribeImages", "ecr:DescribeRepositories",
                   "ecr:GetDownloadUrlForLayer", "ecr:ListImages"]}]})
    assert evaluate(request(Principal.anonymous()), [], public).allowed
    assert not evaluate(request(Principal.anonymous(), "ecr:PutImage"), [], public).allowed
    assert evaluate(request(user("alice")), [], public).allowed
    assert not evaluate(request(user("x", OTHER)), [], public).allowed  # needs its own allow
    assert evaluate(request(user("x", OTHER)), [READ_ONLY], public).allowed


def test_the_default_repository_grants_only_the_owning_account():
    # "By default, only the AWS account that created the repository has access"
    assert evaluate(request(Principal.root(ACCOUNT), "ecr:PutImage", REPO)).allowed
    assert evaluate(request(user("alice"), "ecr:PutImage", REPO), [ECR_ALL]).allowed
    assert not evaluate(request(user("alice"), "ecr:PutImage", REPO)).allowed
    assert not evaluate(request(Principal.root(OTHER), "ecr:PutImage", REPO)).allowed
