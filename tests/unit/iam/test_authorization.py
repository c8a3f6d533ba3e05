import json

import pytest
from sqlalchemy import bindparam, update

from berth.iam.authentication import Caller
from berth.iam.authorization import AccessDenied, Authorizer, denial_message, require
from berth.iam.identities import IAM_GENERATION
from berth.iam.policy import Principal, RequestContext, evaluate, parse_policy
from berth.storage.metadata.generation_cache import GenerationCache
from berth.iam.tenancy import RegistryAddress
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.schema import repositories

OWNER = "111122223333"
OTHER = "444455556666"
PULL = "ecr:BatchGetImage"
REPO_ARN = f"arn:aws:ecr:us-east-1:{OWNER}:repository/app"


def _doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _identity(*statements, name="inline"):
    return parse_policy(_doc(*statements), kind="identity", name=name)


def _resource(*statements):
    return parse_policy(_doc(*statements), kind="resource")


def _user(account=OWNER, name="alice", policies=()) -> Caller:
    return Caller(Principal.user(account, name), "AKIAEXAMPLEEXAMPLE00", tuple(policies), False)


def _root(account=OWNER) -> Caller:
    return Caller(Principal.root(account), "AKIAEXAMPLEEXAMPLE00", (), False)


ALLOW_IDENTITY = {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
DENY_IDENTITY = {"Effect": "Deny", "Action": PULL, "Resource": "*"}


def _message(caller, resource_policies=(), action=PULL, resource=REPO_ARN) -> str:
    with pytest.raises(AccessDenied) as excinfo:
        require(caller, action, resource, resource_policies)
    assert excinfo.value.action == action and excinfo.value.resource == resource
    assert excinfo.value.message == str(excinfo.value)
    return excinfo.value.message


# -- denial messages -------------------------------------------------------------------------
def test_implicit_deny_same_account():
    assert _message(_user()) == (
        f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} because no identity-based policy allows the {PULL} action")


def test_explicit_deny_in_identity_policy():
    caller = _user(policies=[_identity(ALLOW_IDENTITY, DENY_IDENTITY)])
    assert _message(caller) == (
        f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} with an explicit deny in an identity-based policy")


def test_explicit_deny_in_identity_policy_names_the_policy_kind():
    caller = _user(policies=[_identity(ALLOW_IDENTITY, DENY_IDENTITY)])
    message = _message(caller)
    assert message.startswith(f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to "
                              f"perform: {PULL} on resource: {REPO_ARN} with an explicit deny")
    assert message.endswith("identity-based policy")


def test_explicit_deny_in_resource_policy():
    caller = _user(policies=[_identity(ALLOW_IDENTITY)])
    policy = _resource({"Effect": "Deny", "Principal": "*", "Action": PULL, "Resource": "*"})
    assert _message(caller, [policy]) == (
        f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} with an explicit deny in a resource-based policy")


def test_cross_account_without_resource_policy():
    caller = _user(OTHER, "bob", [_identity(ALLOW_IDENTITY)])
    assert _message(caller) == (
        f"User: arn:aws:iam::{OTHER}:user/bob is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} because no resource-based policy allows the {PULL} action")


def test_cross_account_granted_by_resource_but_not_by_identity():
    caller = _user(OTHER, "bob")
    policy = _resource({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:user/bob"},
                        "Action": PULL, "Resource": "*"})
    assert _message(caller, [policy]) == (
        f"User: arn:aws:iam::{OTHER}:user/bob is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} because no identity-based policy allows the {PULL} action")


def test_root_denial_is_worded_as_aws_does():
    assert _message(_root(OTHER)) == (
        f"User: arn:aws:iam::{OTHER}:root is not authorized to perform: {PULL} on "
        f"resource: {REPO_ARN} because no resource-based policy allows the {PULL} action")


def test_denial_message_from_a_decision():
    caller = _user()
    ctx = RequestContext(caller.principal, PULL, REPO_ARN)
    message = denial_message(caller, ctx, evaluate(ctx, caller.policies))
    assert message.endswith(f"because no identity-based policy allows the {PULL} action")


def test_require_allows():
    require(_user(policies=[_identity(ALLOW_IDENTITY)]), PULL, REPO_ARN)
    require(_root(), PULL, REPO_ARN)


# -- Authorizer over the database ------------------------------------------------------------
@pytest.fixture
def registry(db, identities):
    """Account OWNER's registry in us-east-1 with repositories "app" and "other"; account
    OTHER exists too."""
    identities.create_account("owner", OWNER)
    identities.create_account("other", OTHER)
    with db.write() as tx:
        registry_id = registry_rows.ensure_registry(tx, OWNER, "us-east-1")
        for name in ("app", "other"):
            repository_rows.ensure(tx, registry_id, name)
    return registry_id


@pytest.fixture
def set_policies(db, registry):
    def apply(repository_policy: str | None = None, registry_policy: str | None = None,
              repository: str = "app"):
        with db.write() as tx:
            tx.execute(update(repositories).where(
                repositories.c.registry_id == bindparam("registry"),
                repositories.c.name == bindparam("name")).values(policy=bindparam("policy")),
                {"registry": registry, "name": repository, "policy": repository_policy})
            registry_rows.set_registry_policy(tx, registry, registry_policy)
            registry_rows.bump(tx, IAM_GENERATION)
    return apply


@pytest.fixture
def check(db, registry):
    authorizer, cache = Authorizer(), GenerationCache()
    address = RegistryAddress(OWNER, "us-east-1")

    def run(caller, repository="app", action=PULL):
        with db.read() as tx:
            authorizer.check(tx, cache.entries(tx), caller, action, address, registry,
                             repository)
    return run


def _allowed(check, caller, repository="app", action=PULL) -> bool:
    try:
        check(caller, repository, action)
    except AccessDenied:
        return False
    return True


def _grant(principal: str, action: str = PULL, resource: str = "*") -> str:
    return _doc({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action,
                 "Resource": resource})


def test_same_account_user_needs_some_allow(check):
    with pytest.raises(AccessDenied, match="no identity-based policy"):
        check(_user())
    assert _allowed(check, _user(policies=[_identity(ALLOW_IDENTITY)]))
    assert _allowed(check, _root())


def test_same_account_user_allowed_by_repository_policy_alone(check, set_policies):
    alice = _user()
    set_policies(repository_policy=_grant(f"arn:aws:iam::{OWNER}:user/alice"))
    assert _allowed(check, alice)
    assert not _allowed(check, alice, action="ecr:PutImage")
    assert not _allowed(check, alice, repository="other")
    assert not _allowed(check, _user(name="bob"))


def test_same_account_user_allowed_by_registry_policy_alone(check, set_policies):
    set_policies(registry_policy=_grant(f"arn:aws:iam::{OWNER}:user/alice"))
    assert _allowed(check, _user(), repository="app")
    assert _allowed(check, _user(), repository="other")
    assert _allowed(check, _user(), repository=None)  # registry-level actions


def test_grant_to_the_account_is_not_a_grant_to_its_users(check, set_policies):
    set_policies(repository_policy=_grant(OWNER))
    assert not _allowed(check, _user())
    assert _allowed(check, _user(policies=[_identity(ALLOW_IDENTITY)]))


def test_cross_account_needs_both_sides(check, set_policies):
    bob_without = _user(OTHER, "bob")
    bob_with = _user(OTHER, "bob", [_identity(ALLOW_IDENTITY)])
    assert not _allowed(check, bob_with)  # identity side alone
    set_policies(repository_policy=_grant(f"arn:aws:iam::{OTHER}:user/bob"))
    assert not _allowed(check, bob_without)  # resource side alone
    assert _allowed(check, bob_with)
    assert not _allowed(check, bob_with, repository="other")
    set_policies(registry_policy=_grant(OTHER))  # the registry grants the whole account
    assert _allowed(check, bob_with, repository="other")
    assert _allowed(check, _root(OTHER), repository="other")
    assert not _allowed(check, _user(OTHER, "carol"), repository="other")


def test_cross_account_denial_blames_the_resource_side(check):
    bob = _user(OTHER, "bob", [_identity(ALLOW_IDENTITY)])
    with pytest.raises(AccessDenied, match="because no resource-based policy allows"):
        check(bob)


def test_explicit_deny_in_registry_policy_beats_repository_allow(check, set_policies):
    set_policies(
        repository_policy=_grant(f"arn:aws:iam::{OWNER}:user/alice"),
        registry_policy=_doc({"Effect": "Deny", "Principal": "*", "Action": PULL,
                              "Resource": "*"}))
    with pytest.raises(AccessDenied, match="explicit deny in a resource-based policy"):
        check(_user())
    with pytest.raises(AccessDenied):
        check(_root())  # not even the owner's root


def test_policy_changes_are_seen_after_the_generation_moves(check, set_policies):
    alice = _user()
    assert not _allowed(check, alice)
    set_policies(repository_policy=_grant(f"arn:aws:iam::{OWNER}:user/alice"))
    assert _allowed(check, alice)
    set_policies(repository_policy=None)
    assert not _allowed(check, alice)


def test_repository_policies_are_scoped_to_the_registry(db, registry, check, set_policies):
    with db.write() as tx:
        elsewhere = registry_rows.ensure_registry(tx, OTHER, "us-east-1")
        repository_rows.ensure(tx, elsewhere, "app")
    set_policies(repository_policy=_grant("*"))
    with db.read() as tx:
        assert Authorizer().repository_policies(tx, {}, elsewhere, "app") == ()
        assert len(Authorizer().repository_policies(tx, {}, registry, "app")) == 1
        assert Authorizer().repository_policies(tx, {}, registry, "missing") == ()
