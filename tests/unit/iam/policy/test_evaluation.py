"""The decision logic: explicit deny, same-account union, cross-account intersection."""
import pytest

from berth.iam.policy import (ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, MatchedStatement, Outcome,
                              Principal, evaluate)

from .builders import ACCOUNT, OTHER, REPO, identity, repo_arn, request, resource

ALICE = Principal.user(ACCOUNT, "alice")
BOB_ELSEWHERE = Principal.user(OTHER, "bob")
ECR_ALL = identity({"Version": "2012-10-17", "Statement": [
    {"Sid": "EcrAll", "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}, name="ecr-all")


def pull_grant(principal):
    return resource({"Version": "2012-10-17", "Statement": [{
        "Sid": "Pull", "Effect": "Allow", "Principal": principal,
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}, name="repo")


# --- the IAM guide's identity/resource example ----------------------------------------------

CARLOS = Principal.user(ACCOUNT, "carlossalazar")
CARLOS_POLICY = identity({"Version": "2012-10-17", "Statement": [
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints",
                "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
]}, name="carlos")
CARLOS_BUCKET = resource({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"},
    "Action": "s3:*", "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
}]}, name="bucket policy")


def s3(principal, action, arn):
    # S3 ARNs carry no account; the bucket is in the caller's account here.
    from berth.iam.policy import RequestContext
    return RequestContext(principal, action, arn, resource_account=ACCOUNT)


def test_carlos_is_denied_the_logs_bucket_by_his_own_policy():
    decision = evaluate(s3(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f.txt"),
                        [CARLOS_POLICY], CARLOS_BUCKET)
    assert decision.outcome is EXPLICIT_DENY and decision.explicitly_denied
    assert decision.statement == MatchedStatement("carlos", "identity", 2, "DenyS3Logs")
    assert "DenyS3Logs" in decision.reason


def test_carlos_may_write_his_own_bucket():
    decision = evaluate(s3(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f.txt"),
                        [CARLOS_POLICY], CARLOS_BUCKET)
    assert decision.allowed and decision.statement.sid == "AllowS3Self"


@pytest.mark.parametrize("identity_policies,bucket_policy,expected", [
    ([CARLOS_POLICY], None, ALLOW),
    ([], CARLOS_BUCKET, ALLOW),   # "If one of the policy types allows ... still allowed"
    ([], None, IMPLICIT_DENY),
])
def test_same_account_needs_only_one_allow(identity_policies, bucket_policy, expected):
    ctx = s3(CARLOS, "s3:GetObject", "arn:aws:s3:::carlossalazar/f.txt")
    assert evaluate(ctx, identity_policies, bucket_policy).outcome is expected


def test_list_read_applies_to_every_bucket_but_not_to_other_actions():
    assert evaluate(s3(CARLOS, "s3:ListAllMyBuckets", "arn:aws:s3:::any"), [CARLOS_POLICY]).allowed
    assert evaluate(s3(CARLOS, "s3:GetObject", "arn:aws:s3:::any/x"),
                    [CARLOS_POLICY]).outcome is IMPLICIT_DENY


# --- explicit and implicit denies -----------------------------------------------------------

GET_LIST_NO_REPORTS = identity({"Version": "2012-10-17", "Statement": [
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"],
     "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
]})
IAM_EVERYTHING = identity({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})


@pytest.mark.parametrize("action,with_more,expected", [
    ("iam:GetUser", False, ALLOW),
    ("iam:ListRoles", False, ALLOW),
    ("iam:CreatePolicy", False, IMPLICIT_DENY),
    ("iam:CreatePolicy", True, ALLOW),
    ("iam:GetOrganizationsAccessReport", False, EXPLICIT_DENY),
    ("iam:GenerateCredentialReport", True, EXPLICIT_DENY),   # another allow does not help
])
def test_explicit_and_implicit_denies_example(action, with_more, expected):
    policies = [GET_LIST_NO_REPORTS] + ([IAM_EVERYTHING] if with_more else [])
    ctx = request(ALICE, action, f"arn:aws:iam::{ACCOUNT}:user/alice")
    assert evaluate(ctx, policies).outcome is expected


def test_not_action_with_allow_everything_except_iam():
    policy = identity({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}})
    assert evaluate(request(ALICE, "ecr:PutImage"), [policy]).allowed
    assert evaluate(request(ALICE, "iam:CreateUser", "*"), [policy]).outcome is IMPLICIT_DENY


def test_not_action_scoped_by_resource():
    policy = identity({"Statement": {"Effect": "Allow", "NotAction": "s3:DeleteBucket",
                                     "Resource": "arn:aws:s3:::*"}})
    assert evaluate(s3(ALICE, "s3:GetObject", "arn:aws:s3:::b/k"), [policy]).allowed
    assert not evaluate(s3(ALICE, "s3:DeleteBucket", "arn:aws:s3:::b"), [policy]).allowed
    assert not evaluate(request(ALICE, "ecr:BatchGetImage"), [policy]).allowed  # not an S3 ARN
    assert not evaluate(s3(ALICE, "s3:ListAllMyBuckets", "*"), [policy]).allowed


@pytest.mark.parametrize("mfa,action,expected", [
    (None, "ecr:PutImage", EXPLICIT_DENY),
    (False, "ecr:PutImage", EXPLICIT_DENY),
    (True, "ecr:PutImage", ALLOW),
    (None, "iam:ChangePassword", ALLOW),
])
def test_not_action_deny_without_mfa_example(mfa, action, expected):
    deny = identity({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny", "NotAction": "iam:*",
        "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]})
    allow = identity({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    keys = {} if mfa is None else {"aws:MultiFactorAuthPresent": mfa}
    assert evaluate(request(ALICE, action, keys=keys), [deny, allow]).outcome is expected


def test_not_resource_deny_outside_a_namespace():
    fence = identity({"Statement": [{"Effect": "Deny", "Action": "ecr:*",
                                     "NotResource": repo_arn("team-a/*")}]})
    assert evaluate(request(ALICE, resource_arn=repo_arn("team-a/web")), [fence, ECR_ALL]).allowed
    assert evaluate(request(ALICE, resource_arn=repo_arn("team-b/web")),
                    [fence, ECR_ALL]).outcome is EXPLICIT_DENY


def test_a_resource_policy_deny_beats_an_identity_allow_and_vice_versa():
    deny_all = resource({"Statement": [{"Sid": "DenyPull", "Effect": "Deny", "Principal": "*",
                                        "Action": "ecr:BatchGetImage"}]})
    decision = evaluate(request(ALICE), [ECR_ALL], deny_all)
    assert decision.outcome is EXPLICIT_DENY and decision.statement.policy_kind == "resource"
    deny_mine = identity({"Statement": [{"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]})
    decision = evaluate(request(ALICE), [deny_mine], pull_grant({"AWS": ALICE.arn}))
    assert decision.outcome is EXPLICIT_DENY and decision.statement.policy_kind == "identity"


def test_every_applicable_deny_is_reported():
    deny_mine = identity({"Statement": [{"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]},
                         name="mine")
    deny_repo = resource({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}]},
                         name="repo")
    decision = evaluate(request(ALICE), [deny_mine], deny_repo)
    assert [s.policy for s in decision.statements] == ["mine", "repo"]


def test_a_deny_with_an_unmet_condition_does_not_apply():
    deny_http = identity({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    assert evaluate(request(ALICE, keys={"aws:SecureTransport": True}),
                    [deny_http, ECR_ALL]).allowed
    assert evaluate(request(ALICE, keys={"aws:SecureTransport": False}),
                    [deny_http, ECR_ALL]).outcome is EXPLICIT_DENY


def test_resource_star_for_actions_without_a_resource():
    token = request(ALICE, "ecr:GetAuthorizationToken", "*")
    scoped = identity({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": REPO}]})
    assert evaluate(token, [ECR_ALL]).allowed
    assert not evaluate(token, [scoped]).allowed


# --- principals in resource policies (same account) -----------------------------------------

def test_a_resource_policy_naming_the_user_suffices_in_the_same_account():
    decision = evaluate(request(ALICE), [], pull_grant({"AWS": ALICE.arn}))
    assert decision.allowed and decision.statement == MatchedStatement("repo", "resource", 0,
                                                                       "Pull")


def test_a_resource_policy_naming_another_user_does_not_help():
    other = Principal.user(ACCOUNT, "mallory")
    assert evaluate(request(other), [], pull_grant({"AWS": ALICE.arn})).outcome is IMPLICIT_DENY


def test_everyone_in_the_same_account_via_star():
    assert evaluate(request(ALICE), [], pull_grant("*")).allowed
    assert evaluate(request(ALICE), [], pull_grant({"AWS": "*"})).allowed


@pytest.mark.parametrize("grant", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"])
def test_an_account_principal_delegates_to_identity_policies(grant):
    decision = evaluate(request(ALICE), [], pull_grant({"AWS": grant}))
    assert decision.outcome is IMPLICIT_DENY and "identity-based policy" in decision.reason
    assert evaluate(request(ALICE), [ECR_ALL], pull_grant({"AWS": grant})).allowed


def test_a_role_arn_covers_its_sessions_and_a_session_arn_only_itself():
    session = Principal.assumed_role(ACCOUNT, "deployer", "run-1")
    other_session = Principal.assumed_role(ACCOUNT, "deployer", "run-2")
    role_grant = pull_grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/deployer"})
    session_grant = pull_grant({"AWS": session.arn})
    assert evaluate(request(session), [], role_grant).allowed
    assert evaluate(request(other_session), [], role_grant).allowed
    assert evaluate(request(session), [], session_grant).allowed
    assert not evaluate(request(other_session), [], session_grant).allowed


def test_a_unique_id_principal():
    user = Principal.user(ACCOUNT, "alice", userid="AIDACKCEVSQ6C2EXAMPLE")
    grant = pull_grant({"AWS": "AIDACKCEVSQ6C2EXAMPLE"})
    assert evaluate(request(user), [], grant).allowed
    assert not evaluate(request(Principal.user(ACCOUNT, "alice")), [], grant).allowed


def test_principal_arn_condition_instead_of_not_principal():
    policy = resource({"Version": "2012-10-17", "Statement": [
        {"Sid": "UsePrincipalArnInsteadOfNotPrincipalWithDeny", "Effect": "Deny",
         "Action": "ecr:*", "Principal": "*",
         "Condition": {"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/alice"}}},
    ]})
    assert evaluate(request(ALICE), [ECR_ALL], policy).allowed
    assert evaluate(request(Principal.user(ACCOUNT, "bob")), [ECR_ALL],
                    policy).outcome is EXPLICIT_DENY


# --- NotPrincipal ---------------------------------------------------------------------------

def not_principal_deny(*arns):
    return resource({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "NotPrincipal": {"AWS": list(arns)}, "Action": "ecr:*"}]})


def test_not_principal_deny_spares_only_the_named_user_and_account():
    bob = Principal.user("444455556666", "Bob")
    policy = not_principal_deny("arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root")
    pull = "ecr:BatchGetImage"
    assert evaluate(request(bob, pull), [ECR_ALL], policy).outcome is IMPLICIT_DENY  # not denied
    other = Principal.user("444455556666", "Carol")
    assert evaluate(request(other, pull), [ECR_ALL], policy).outcome is EXPLICIT_DENY
    assert evaluate(request(ALICE, pull), [ECR_ALL], policy).outcome is EXPLICIT_DENY


def test_not_principal_naming_the_user_alone_still_denies_the_account():
    bob = Principal.user("444455556666", "Bob")
    policy = not_principal_deny("arn:aws:iam::444455556666:user/Bob")
    assert evaluate(request(bob), [ECR_ALL], policy).outcome is EXPLICIT_DENY


def test_not_principal_deny_for_a_role_session():
    arns = ("arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/"
            "cross-account-audit-app",
            "arn:aws:iam::444455556666:role/cross-account-read-only-role",
            "arn:aws:iam::444455556666:root")
    audit = Principal.assumed_role("444455556666", "cross-account-read-only-role",
                                   "cross-account-audit-app")
    other = Principal.assumed_role("444455556666", "cross-account-read-only-role", "someone")
    assert evaluate(request(audit), [], not_principal_deny(*arns)).outcome is IMPLICIT_DENY
    assert evaluate(request(other), [], not_principal_deny(*arns)).outcome is EXPLICIT_DENY
    assert evaluate(request(audit), [], not_principal_deny(*arns[::2])).outcome is EXPLICIT_DENY


def test_not_principal_deny_applies_to_anonymous_callers_and_spares_the_named_root():
    public_but_owner_only = resource({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "ecr:*"}]})
    assert evaluate(request(Principal.anonymous()), [],
                    public_but_owner_only).outcome is EXPLICIT_DENY
    assert evaluate(request(Principal.root(ACCOUNT)), [], public_but_owner_only).allowed
    # naming the account does not name its users
    assert evaluate(request(ALICE), [ECR_ALL], public_but_owner_only).outcome is EXPLICIT_DENY


def test_not_principal_with_allow_grants_everyone_else():
    policy = resource({"Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage",
                                      "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/x"}}]})
    assert evaluate(request(ALICE), [], policy).allowed


# --- cross-account --------------------------------------------------------------------------

def test_cross_account_needs_both_sides():
    grant = pull_grant({"AWS": OTHER})
    ctx = request(BOB_ELSEWHERE)
    both = evaluate(ctx, [ECR_ALL], grant)
    assert both.allowed
    assert [s.policy_kind for s in both.statements] == ["identity", "resource"]
    only_resource = evaluate(ctx, [], grant)
    assert only_resource.outcome is IMPLICIT_DENY
    assert "no identity-based policy" in only_resource.reason
    only_identity = evaluate(ctx, [ECR_ALL], None)
    assert only_identity.outcome is IMPLICIT_DENY
    assert "no resource policy statement" in only_identity.reason


@pytest.mark.parametrize("principal", [
    "*", {"AWS": "*"}, {"AWS": OTHER}, {"AWS": f"arn:aws:iam::{OTHER}:root"},
    {"AWS": f"arn:aws:iam::{OTHER}:user/bob"},
])
def test_cross_account_resource_side_forms(principal):
    assert evaluate(request(BOB_ELSEWHERE), [ECR_ALL], pull_grant(principal)).allowed
    assert not evaluate(request(BOB_ELSEWHERE), [], pull_grant(principal)).allowed


def test_cross_account_grant_to_a_third_account_does_not_help():
    grant = pull_grant({"AWS": "999999999999"})
    assert evaluate(request(BOB_ELSEWHERE), [ECR_ALL], grant).outcome is IMPLICIT_DENY


def test_cross_account_identity_policy_must_cover_the_foreign_resource():
    own_only = identity({"Statement": [{"Effect": "Allow", "Action": "ecr:*",
                                        "Resource": f"arn:aws:ecr:*:{OTHER}:repository/*"}]})
    assert not evaluate(request(BOB_ELSEWHERE), [own_only], pull_grant({"AWS": OTHER})).allowed


def test_cross_account_deny_on_either_side_wins():
    deny = identity({"Statement": [{"Effect": "Deny", "Action": "ecr:BatchGetImage",
                                    "Resource": "*"}]})
    assert evaluate(request(BOB_ELSEWHERE), [ECR_ALL, deny],
                    pull_grant({"AWS": OTHER})).outcome is EXPLICIT_DENY


# --- the root user --------------------------------------------------------------------------

ROOT = Principal.root(ACCOUNT)


def test_the_account_root_may_do_anything_in_its_own_account():
    decision = evaluate(request(ROOT, "ecr:DeleteRepository"))
    assert decision.allowed and "root user" in decision.reason


def test_an_explicit_deny_in_the_resource_policy_stops_the_root_user():
    deny_pull = resource({"Statement": [{"Sid": "DenyPull", "Effect": "Deny", "Principal": "*",
                                         "Action": ["ecr:BatchGetImage"]}]})
    assert evaluate(request(ROOT), [], deny_pull).outcome is EXPLICIT_DENY
    assert evaluate(request(ROOT, "ecr:PutImage"), [], deny_pull).allowed
    deny_other = resource({"Statement": [{"Effect": "Deny", "Principal": {"AWS": OTHER},
                                          "Action": "*"}]})
    assert evaluate(request(ROOT), [], deny_other).allowed


def test_is_account_root_overrides_the_principal_kind():
    assert evaluate(request(ROOT), [], None, is_account_root=False).outcome is IMPLICIT_DENY
    assert evaluate(request(ALICE), [], None, is_account_root=True).allowed


def test_a_foreign_root_needs_the_resource_policy_only():
    foreign_root = Principal.root(OTHER)
    assert evaluate(request(foreign_root), [], pull_grant({"AWS": OTHER})).allowed
    assert evaluate(request(foreign_root), [], None).outcome is IMPLICIT_DENY
    assert evaluate(request(foreign_root), [], pull_grant({"AWS": "999999999999"})).outcome \
        is IMPLICIT_DENY


# --- callers without an account -------------------------------------------------------------

def test_anonymous_callers_need_a_public_grant():
    anon = request(Principal.anonymous())
    public = pull_grant("*")
    assert evaluate(anon, [], public).allowed
    assert evaluate(anon, [], pull_grant({"AWS": "*"})).allowed
    assert evaluate(anon, [], pull_grant({"AWS": ACCOUNT})).outcome is IMPLICIT_DENY
    assert evaluate(anon, [], None).outcome is IMPLICIT_DENY


def test_service_principals():
    grant = pull_grant({"Service": "codebuild.amazonaws.com"})
    assert evaluate(request(Principal.service("codebuild.amazonaws.com")), [], grant).allowed
    assert not evaluate(request(Principal.service("lambda.amazonaws.com")), [], grant).allowed
    assert not evaluate(request(ALICE), [], grant).allowed


# --- tags and request conditions (ECR's tag-based access control) ---------------------------

def test_allow_everything_except_prod_tagged_repositories():
    policy = identity({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecr:*", "Resource": "*",
         "Condition": {"StringEquals": {"ecr:ResourceTag/environment": "prod"}}}]})
    assert evaluate(request(ALICE, keys={"ecr:ResourceTag/environment": "dev"}), [policy]).allowed
    assert evaluate(request(ALICE), [policy]).allowed
    assert evaluate(request(ALICE, keys={"ecr:ResourceTag/Environment": "prod"}),
                    [policy]).outcome is EXPLICIT_DENY


@pytest.mark.parametrize("tags,expected", [
    ({"aws:RequestTag/environment": "dev"}, ALLOW),
    ({"aws:RequestTag/environment": "prod"}, IMPLICIT_DENY),
    ({}, IMPLICIT_DENY),
])
def test_create_only_dev_tagged_repositories(tags, expected):
    policy = identity({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowCreateTaggedRepository", "Effect": "Allow",
         "Action": ["ecr:CreateRepository"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/environment": "dev"}}}]})
    ctx = request(ALICE, "ecr:CreateRepository", repo_arn("new"), keys=tags)
    assert evaluate(ctx, [policy]).outcome is expected


# --- API guards -----------------------------------------------------------------------------

def test_policy_kinds_are_checked():
    with pytest.raises(ValueError):
        evaluate(request(ALICE), [pull_grant("*")])
    with pytest.raises(ValueError):
        evaluate(request(ALICE), [], ECR_ALL)


def test_outcome_values():
    assert [o.value for o in Outcome] == ["Allow", "ExplicitDeny", "ImplicitDeny"]
    assert ALLOW is Outcome.ALLOW


def test_identity_policies_may_be_any_iterable():
    assert evaluate(request(ALICE), (p for p in [ECR_ALL])).allowed
    deny = identity({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    assert evaluate(request(ALICE), iter([ECR_ALL, deny])).outcome is EXPLICIT_DENY
