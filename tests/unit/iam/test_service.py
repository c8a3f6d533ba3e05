import json

import pytest
from sqlalchemy import bindparam, func, select, update

from berth.iam.authorization import AccessDenied
from berth.iam.identities import IAM_GENERATION
from berth.iam.service import Unauthenticated, UnknownRegistry
from berth.iam.tenancy import RegistryAddress
from berth.iam.wiring import open_iam
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories as repository_rows
from berth.storage.metadata.schema import registries, repositories

PULL = "ecr:BatchGetImage"
ALLOW_PULL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": PULL, "Resource": "*"}]})


def _root_token(iam, account_id: str) -> str:
    key = iam.identities.access_keys(account_id)[0]
    return iam.tokens.mint(key.id)[0]


@pytest.fixture
def admin_id(iam):
    return iam.tenancy.default.account_id


@pytest.fixture
def user_token(iam, admin_id):
    """A token of user alice (no policies) in the default registry's account."""
    iam.identities.create_user(admin_id, "alice")
    key = iam.identities.create_access_key(admin_id, "alice")
    return iam.tokens.mint(key.id)[0]


def _set_repository_policy(db, registry_id: int, name: str, policy: str | None) -> None:
    with db.write() as tx:
        repository_rows.ensure(tx, registry_id, name)
        tx.execute(update(repositories).where(
            repositories.c.registry_id == bindparam("registry"),
            repositories.c.name == bindparam("name")).values(policy=bindparam("policy")),
            {"registry": registry_id, "name": name, "policy": policy})
        registry_rows.bump(tx, IAM_GENERATION)


def test_root_token_is_admitted(iam, admin_id, basic_header):
    admission = iam.admit(basic_header(_root_token(iam, admin_id)), PULL, iam.tenancy.default,
                          "app")
    assert admission.caller.principal.kind == "root"
    assert admission.caller.account_id == admin_id
    assert admission.caller.is_admin
    assert admission.registry_id == iam.registry_id(iam.tenancy.default)
    # and again on the warm path
    again = iam.admit(basic_header(_root_token(iam, admin_id)), PULL, iam.tenancy.default, None)
    assert again.registry_id == admission.registry_id


def test_user_without_policy_is_denied(iam, user_token, basic_header, admin_id):
    with pytest.raises(AccessDenied) as excinfo:
        iam.admit(basic_header(user_token), PULL, iam.tenancy.default, "app")
    assert excinfo.value.message.startswith(f"User: arn:aws:iam::{admin_id}:user/alice is not "
                                            f"authorized to perform: {PULL}")
    assert excinfo.value.resource == iam.tenancy.default.repository_arn("app")


def test_policy_changes_take_effect_on_the_next_admit(iam, user_token, basic_header, admin_id):
    header = basic_header(user_token)
    with pytest.raises(AccessDenied):
        iam.admit(header, PULL, iam.tenancy.default, "app")  # warms the cache with the caller
    iam.identities.put_user_policy(admin_id, "alice", "pull", ALLOW_PULL)
    assert iam.admit(header, PULL, iam.tenancy.default, "app").caller.principal.username == "alice"
    iam.identities.delete_user_policy(admin_id, "alice", "pull")
    with pytest.raises(AccessDenied):
        iam.admit(header, PULL, iam.tenancy.default, "app")


def test_changes_made_through_one_node_reach_another(iam, settings, db, user_token,
                                                     basic_header, admin_id):
    other_node = open_iam(settings, db)
    header = basic_header(user_token)
    with pytest.raises(AccessDenied):
        other_node.admit(header, PULL, other_node.tenancy.default, "app")
    iam.identities.put_user_policy(admin_id, "alice", "pull", ALLOW_PULL)
    other_node.admit(header, PULL, other_node.tenancy.default, "app")
    key = iam.identities.access_keys(admin_id, "alice")[0]
    iam.identities.set_access_key_active(admin_id, key.id, False)
    with pytest.raises(Unauthenticated, match="revoked"):
        other_node.admit(header, PULL, other_node.tenancy.default, "app")


def test_repository_policy_change_takes_effect_on_the_next_admit(iam, db, user_token,
                                                                 basic_header, admin_id):
    header = basic_header(user_token)
    registry_id = iam.registry_id(iam.tenancy.default)
    with pytest.raises(AccessDenied):
        iam.admit(header, PULL, iam.tenancy.default, "app")
    grant = json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{admin_id}:user/alice"},
        "Action": PULL, "Resource": "*"}]})
    _set_repository_policy(db, registry_id, "app", grant)
    iam.admit(header, PULL, iam.tenancy.default, "app")
    with pytest.raises(AccessDenied):
        iam.admit(header, PULL, iam.tenancy.default, "other")


def test_an_unknown_region_after_authorization(iam, admin_id, basic_header):
    header = basic_header(_root_token(iam, admin_id))
    with pytest.raises(UnknownRegistry, match="region"):
        iam.admit(header, PULL, RegistryAddress(admin_id, "xx-moon-1"), "app")


def test_a_missing_account_is_refused_as_one_without_policies(iam, db, admin_id,
                                                              basic_header):
    """Which accounts exist is no caller's business: the refusal of a missing account's
    registry reads as that of an existing one's (made or not yet made)."""
    header = basic_header(_root_token(iam, admin_id))
    made, unmade = iam.identities.create_account("made"), iam.identities.create_account("unmade")
    iam.registry_id(RegistryAddress(made.id, "us-east-1"))
    refusals = {}
    for account in (made.id, unmade.id, "999999999999"):
        with pytest.raises(AccessDenied) as excinfo:
            iam.admit(header, PULL, RegistryAddress(account, "us-east-1"), "app")
        refusals[account] = excinfo.value.message.replace(account, "<account>")
        assert iam.listed_registry(RegistryAddress(account, "us-east-1")) == (
            iam.registry_id(RegistryAddress(made.id, "us-east-1"))
            if account == made.id else None)
    assert len(set(refusals.values())) == 1, refusals
    with db.read() as tx:  # refused callers make no registry
        assert tx.scalar(select(func.count().label("n")).select_from(registries)) == 2


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Basic QVdTOmdhcmJhZ2U="])
def test_authentication_comes_first(iam, header):
    for address in (RegistryAddress("999999999999", "us-east-1"),
                    RegistryAddress("123456789012", "xx-moon-1")):
        with pytest.raises(Unauthenticated):
            iam.admit(header, PULL, address, "app")


def test_name_is_checked_once_the_caller_is_known(iam, admin_id, basic_header):
    checked = []

    def check_name(name):
        checked.append(name)
        raise ValueError(f"bad name {name}")

    with pytest.raises(Unauthenticated):
        iam.admit(basic_header("garbage"), PULL, iam.tenancy.default, "Bad", check_name=check_name)
    assert checked == []
    with pytest.raises(ValueError):
        iam.admit(basic_header(_root_token(iam, admin_id)), PULL, iam.tenancy.default, "Bad",
                  check_name=check_name)
    assert checked == ["Bad"]


def test_registry_ids(iam, settings, db, admin_id):
    other = iam.identities.create_account("team-b")
    default = iam.registry_id(iam.tenancy.default)
    assert iam.registry_id(iam.tenancy.default) == default
    in_eu = iam.registry_id(RegistryAddress(admin_id, "eu-west-1"))
    of_other = iam.registry_id(RegistryAddress(other.id, "us-east-1"))
    assert len({default, in_eu, of_other}) == 3
    # Another node (or a restart) finds the same ids.
    other_node = open_iam(settings, db)
    assert other_node.registry_id(RegistryAddress(admin_id, "eu-west-1")) == in_eu
    assert other_node.registry_id(RegistryAddress(other.id, "us-east-1")) == of_other
    with db.read() as tx:
        assert tx.scalar(select(func.count().label("n")).select_from(registries)) == 3
    with pytest.raises(UnknownRegistry):
        iam.registry_id(RegistryAddress("999999999999", "us-east-1"))
    with pytest.raises(UnknownRegistry):
        iam.registry_id(RegistryAddress(admin_id, "xx-moon-1"))
    with db.read() as tx:
        assert tx.scalar(select(func.count().label("n")).select_from(registries)) == 3


def test_an_account_in_its_own_registry_and_in_another(iam, db, admin_id, basic_header):
    other = iam.identities.create_account("team-b")
    iam.identities.create_access_key(other.id)
    header = basic_header(_root_token(iam, other.id))
    own = RegistryAddress(other.id, "us-east-1")
    admission = iam.admit(header, PULL, own, "app")
    assert admission.registry_id == iam.registry_id(own)
    assert admission.registry_id != iam.registry_id(iam.tenancy.default)
    with pytest.raises(AccessDenied, match="no resource-based policy"):
        iam.admit(header, PULL, iam.tenancy.default, "app")
    _set_repository_policy(db, iam.registry_id(iam.tenancy.default), "app", json.dumps({
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": other.id}, "Action": PULL,
                       "Resource": "*"}]}))
    iam.admit(header, PULL, iam.tenancy.default, "app")


def test_authenticate(iam, admin_id, user_token, basic_header):
    assert iam.authenticate(basic_header(user_token)).principal.username == "alice"
    assert iam.authenticate(basic_header(_root_token(iam, admin_id))).account_id == admin_id
    with pytest.raises(Unauthenticated):
        iam.authenticate(basic_header("garbage"))
    with pytest.raises(Unauthenticated):
        iam.authenticate(None)


def test_permits(iam, db, admin_id, user_token, basic_header):
    alice = iam.authenticate(basic_header(user_token))
    root = iam.authenticate(basic_header(_root_token(iam, admin_id)))
    address = iam.tenancy.default
    registry_id = iam.registry_id(address)
    assert iam.permits(root, PULL, address, registry_id, "app")
    assert not iam.permits(alice, PULL, address, registry_id, "app")
    with db.write() as tx:
        registry_rows.set_registry_policy(tx, registry_id, json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": alice.principal.arn}, "Action": PULL,
            "Resource": "*"}]}))
        registry_rows.bump(tx, IAM_GENERATION)
    assert iam.permits(alice, PULL, address, registry_id, "app")
    assert iam.permits(alice, PULL, address, registry_id, None)
    assert not iam.permits(alice, "ecr:PutImage", address, registry_id, "app")
    assert iam.registry_policy_text(registry_id) is not None


def test_allows(iam, admin_id, user_token, basic_header):
    alice = iam.authenticate(basic_header(user_token))
    address = iam.tenancy.default
    grant = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": alice.principal.arn},
                                       "Action": PULL, "Resource": "*"}]})
    deny = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": PULL,
                                      "Resource": address.repository_arn("secret")}]})
    assert not iam.allows(alice, PULL, address, "app", None, None)
    assert iam.allows(alice, PULL, address, "app", grant, None)
    assert iam.allows(alice, PULL, address, "app", None, grant)
    assert iam.allows(alice, PULL, address, "app", grant, deny)
    assert not iam.allows(alice, PULL, address, "secret", grant, deny)
    assert not iam.allows(alice, "ecr:PutImage", address, "app", grant, None)


def test_visibility_decides_as_a_request_would_tags_included(iam, db, admin_id, user_token,
                                                             basic_header):
    """Listings filter with the same decision as a request on the repository: a condition on
    aws:ResourceTag sees the repository's tags."""
    address = iam.tenancy.default
    registry_id = iam.registry_id(address)
    iam.identities.put_user_policy(admin_id, "alice", "by-team", json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}}}]}))
    alice = iam.authenticate(basic_header(user_token))  # the caller with that policy
    with db.write() as tx:
        for name in ("team-a/app", "team-b/app"):
            repository_rows.ensure(tx, registry_id, name)
    from berth.registry.repositories.resource_tags import RepositoryTagService
    RepositoryTagService(db, registry_id).tag("team-a/app", [("team", "a")])
    visible = iam.visibility(alice, "ecr:DescribeRepositories", address, registry_id)
    assert visible("team-a/app") and not visible("team-b/app")
    assert visible("team-a/app") == iam.permits(alice, "ecr:DescribeRepositories", address,
                                                registry_id, "team-a/app")


# -- a plain host: the caller's own registry, in its token's region --------------------------
def test_a_plain_host_admits_to_the_callers_own_registry(iam, admin_id, basic_header):
    team = iam.identities.create_account("team-b").id
    key = iam.identities.create_access_key(team).id
    header = basic_header(iam.tokens.mint(key, region="eu-west-1")[0])
    admission = iam.admit(header, PULL, None, "app")
    assert admission.address == RegistryAddress(team, "eu-west-1")
    assert admission.registry_id == iam.registry_id(RegistryAddress(team, "eu-west-1"))
    assert iam.admit(header, PULL, None, "app") == admission  # the warm path
    # A named host still names exactly that registry: the default one is another account's.
    with pytest.raises(AccessDenied) as denied:
        iam.admit(header, PULL, iam.tenancy.default, "app")
    assert denied.value.address == iam.tenancy.default
    # A token minted before tokens named their region: the default region.
    older = basic_header(iam.tokens.mint(key)[0])
    assert iam.admit(older, PULL, None, "app").address == RegistryAddress(team, "us-east-1")
    admin = basic_header(iam.tokens.mint(iam.identities.access_keys(admin_id)[0].id)[0])
    assert iam.admit(admin, PULL, None, "app").address == iam.tenancy.default


def test_a_plain_host_refusal_names_the_callers_registry(iam, admin_id, user_token,
                                                         basic_header):
    with pytest.raises(AccessDenied) as denied:
        iam.admit(basic_header(user_token), PULL, None, "app")
    assert denied.value.address == iam.tenancy.default
    assert denied.value.principal_arn.endswith(":user/alice")
    with pytest.raises(Unauthenticated):  # strangers first: nothing is resolved for them
        iam.admit(None, PULL, None, "app")


def test_a_plain_host_in_a_region_not_served_is_unknown(iam, basic_header):
    team = iam.identities.create_account("team-b").id
    key = iam.identities.create_access_key(team).id
    header = basic_header(iam.tokens.mint(key, region="xx-moon-1")[0])
    with pytest.raises(UnknownRegistry):
        iam.admit(header, PULL, None, "app")


def test_a_listing_admission(iam, admin_id, basic_header):
    team = iam.identities.create_account("team-b").id
    header = basic_header(iam.tokens.mint(iam.identities.create_access_key(team).id,
                                          region="eu-west-1")[0])
    unmade = iam.admit_listing(header, None)  # no registry made yet: nothing to list
    assert (unmade.address, unmade.registry_id) == (RegistryAddress(team, "eu-west-1"), None)
    made = iam.registry_id(RegistryAddress(team, "eu-west-1"))
    assert iam.admit_listing(header, None).registry_id == made
    named = iam.admit_listing(header, iam.tenancy.default)
    assert (named.address, named.registry_id) == (
        iam.tenancy.default, iam.registry_id(iam.tenancy.default))
    with pytest.raises(Unauthenticated):
        iam.admit_listing(basic_header("garbage"), None)
