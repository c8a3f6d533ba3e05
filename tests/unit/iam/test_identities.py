import json
import re

import pytest
from sqlalchemy import select

from berth.iam.identities import IdentityError, key_context
from berth.iam.policy import PolicyError
from berth.storage.metadata.schema import access_keys, user_policies, users

ALLOW_PULL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    "Resource": "*"}]})
ALLOW_PUSH = json.dumps({"Version": "2012-10-17", "Statement": {
    "Effect": "Allow", "Action": "ecr:PutImage", "Resource": "*"}})


@pytest.fixture
def account(identities):
    return identities.create_account("team-a")


def _code(excinfo) -> str:
    return excinfo.value.code


# -- accounts --------------------------------------------------------------------------------
def test_create_account(identities, iam_generation):
    before = iam_generation()
    account = identities.create_account("Team A, Inc.")
    assert re.fullmatch(r"[1-9][0-9]{11}", account.id)
    assert account.name == "Team A, Inc." and not account.is_admin
    assert identities.account(account.id) == account
    assert account in identities.accounts()
    assert iam_generation() == before + 1


def test_account_ids_are_random(identities):
    ids = {identities.create_account(f"a{i}").id for i in range(5)}
    assert len(ids) == 5


def test_create_account_with_its_id(identities):
    account = identities.create_account("fixed", "012345678901")
    assert account.id == "012345678901"
    assert identities.account("012345678901").name == "fixed"


def test_admin_account(identities):
    assert identities.admin_account() is None
    identities.create_account("plain")
    admin = identities.create_account("admin", is_admin=True)
    assert identities.admin_account() == admin


@pytest.mark.parametrize("taken", ["name", "id"])
def test_duplicate_account(identities, iam_generation, taken):
    identities.create_account("first", "111111111111")
    before = iam_generation()
    name, account_id = ("first", "222222222222") if taken == "name" else ("second", "111111111111")
    with pytest.raises(IdentityError) as excinfo:
        identities.create_account(name, account_id)
    assert _code(excinfo) == "EntityAlreadyExists"
    assert [a.name for a in identities.accounts()] == ["first"]
    assert iam_generation() == before


@pytest.mark.parametrize("name", ["", "x" * 65, "bad/name", "tab\tname", "new\nline", None])
def test_bad_account_name(identities, name):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_account(name)
    assert _code(excinfo) == "ValidationError"
    assert identities.accounts() == []


@pytest.mark.parametrize("account_id", ["12345678901", "1234567890123", "12345678901a", ""])
def test_bad_account_id(identities, account_id):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_account("named", account_id)
    assert _code(excinfo) == "ValidationError"


def test_unknown_account(identities):
    with pytest.raises(IdentityError) as excinfo:
        identities.account("999999999999")
    assert _code(excinfo) == "NoSuchEntity"


# -- users -----------------------------------------------------------------------------------
def test_create_user(identities, account, iam_generation):
    before = iam_generation()
    user = identities.create_user(account.id, "alice", "/dev/team/")
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user.id)
    assert user.arn == f"arn:aws:iam::{account.id}:user/dev/team/alice"
    assert identities.users(account.id) == [user]
    assert iam_generation() == before + 1
    assert identities.create_user(account.id, "bob").path == "/"


def test_users_are_listed_by_name_per_account(identities, account):
    other = identities.create_account("team-b")
    for name in ("carol", "alice", "bob"):
        identities.create_user(account.id, name)
    identities.create_user(other.id, "alice")
    assert [u.name for u in identities.users(account.id)] == ["alice", "bob", "carol"]
    assert [u.name for u in identities.users(other.id)] == ["alice"]


def test_duplicate_user(identities, account, iam_generation):
    identities.create_user(account.id, "alice")
    before = iam_generation()
    with pytest.raises(IdentityError) as excinfo:
        identities.create_user(account.id, "alice", "/other/")
    assert _code(excinfo) == "EntityAlreadyExists"
    assert len(identities.users(account.id)) == 1
    assert iam_generation() == before


@pytest.mark.parametrize("name", ["", "x" * 65, "a/b", "a b", "a:b", "a*", None])
def test_bad_user_name(identities, account, name):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_user(account.id, name)
    assert _code(excinfo) == "ValidationError"


@pytest.mark.parametrize("name", ["jürgen", "名前", "١٢٣"])
def test_non_ascii_user_name(identities, account, name):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_user(account.id, name)
    assert _code(excinfo) == "ValidationError"


@pytest.mark.parametrize("path", ["", "dev/", "/dev", "no-slashes", "/a b/", "/" + "x" * 511 + "/",
                                  None])
def test_bad_user_path(identities, account, path):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_user(account.id, "alice", path)
    assert _code(excinfo) == "ValidationError"


def test_user_in_unknown_account(identities):
    with pytest.raises(IdentityError) as excinfo:
        identities.create_user("999999999999", "alice")
    assert _code(excinfo) == "NoSuchEntity"
    with pytest.raises(IdentityError) as excinfo:
        identities.users("999999999999")
    assert _code(excinfo) == "NoSuchEntity"


# -- access keys -----------------------------------------------------------------------------
def test_create_access_key(db, identities, master, account, iam_generation):
    identities.create_user(account.id, "alice")
    before = iam_generation()
    key = identities.create_access_key(account.id, "alice")
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key.id) and len(key.id) == 20
    assert key.active and key.user_name == "alice" and key.account_id == account.id
    assert key.secret and len(key.secret) == 40
    assert iam_generation() == before + 1
    # The secret is returned once: listing never shows it.
    (listed,) = identities.access_keys(account.id, "alice")
    assert listed.id == key.id and listed.secret is None and listed.active
    # Stored sealed under the master key, bound to the key id.
    with db.read() as tx:
        raw = bytes(tx.scalar(select(access_keys.c.secret).where(access_keys.c.id == key.id)))
    assert key.secret.encode() not in raw
    assert master.open(raw, key_context(key.id)) == key.secret.encode()


def test_root_access_keys(identities, account):
    identities.create_user(account.id, "alice")
    user_key = identities.create_access_key(account.id, "alice")
    root_key = identities.create_access_key(account.id)
    assert root_key.user_name is None
    assert [k.id for k in identities.access_keys(account.id)] == [root_key.id]
    assert [k.id for k in identities.access_keys(account.id, "alice")] == [user_key.id]


def test_access_key_for_unknown_user_or_account(identities, account):
    for args in ((account.id, "nobody"), ("999999999999", None)):
        with pytest.raises(IdentityError) as excinfo:
            identities.create_access_key(*args)
        assert _code(excinfo) == "NoSuchEntity"
    assert identities.access_keys(account.id) == []


def test_deactivate_and_reactivate(db, identities, account, iam_generation):
    key = identities.create_access_key(account.id)

    def state():
        with db.read() as tx:
            return tx.first(select(access_keys.c.active, access_keys.c.tokens_valid_after)
                            .where(access_keys.c.id == key.id))

    initial = state()
    assert initial.active and initial.tokens_valid_after == 0.0
    before = iam_generation()
    identities.set_access_key_active(account.id, key.id, False)
    assert iam_generation() == before + 1
    deactivated = state()
    assert not deactivated.active and deactivated.tokens_valid_after >= key.created_at
    assert not identities.access_keys(account.id)[0].active
    identities.set_access_key_active(account.id, key.id, True)
    assert iam_generation() == before + 2
    reactivated = state()
    assert reactivated.active
    assert reactivated.tokens_valid_after == deactivated.tokens_valid_after


def test_access_key_of_another_account_is_not_found(identities, account):
    other = identities.create_account("team-b")
    key = identities.create_access_key(other.id)
    for change in (lambda: identities.set_access_key_active(account.id, key.id, False),
                   lambda: identities.delete_access_key(account.id, key.id),
                   lambda: identities.set_access_key_active(account.id, "AKIANOSUCHKEY0000000",
                                                            False)):
        with pytest.raises(IdentityError) as excinfo:
            change()
        assert _code(excinfo) == "NoSuchEntity"
    assert identities.access_keys(other.id)[0].active


def test_delete_access_key(identities, account, iam_generation):
    key = identities.create_access_key(account.id)
    keep = identities.create_access_key(account.id)
    before = iam_generation()
    identities.delete_access_key(account.id, key.id)
    assert iam_generation() == before + 1
    assert [k.id for k in identities.access_keys(account.id)] == [keep.id]
    with pytest.raises(IdentityError) as excinfo:
        identities.delete_access_key(account.id, key.id)
    assert _code(excinfo) == "NoSuchEntity"
    assert iam_generation() == before + 1


# -- identity policies -----------------------------------------------------------------------
def test_put_replace_list_delete_policies(identities, account, iam_generation):
    identities.create_user(account.id, "alice")
    before = iam_generation()
    identities.put_user_policy(account.id, "alice", "pull", ALLOW_PULL)
    identities.put_user_policy(account.id, "alice", "push", ALLOW_PULL)
    identities.put_user_policy(account.id, "alice", "push", ALLOW_PUSH)  # replaces
    assert iam_generation() == before + 3
    assert identities.user_policies(account.id, "alice") == {
        "pull": json.loads(ALLOW_PULL), "push": json.loads(ALLOW_PUSH)}
    identities.delete_user_policy(account.id, "alice", "pull")
    assert iam_generation() == before + 4
    assert list(identities.user_policies(account.id, "alice")) == ["push"]
    with pytest.raises(IdentityError) as excinfo:
        identities.delete_user_policy(account.id, "alice", "pull")
    assert _code(excinfo) == "NoSuchEntity"
    assert iam_generation() == before + 4


def test_policies_belong_to_their_user(identities, account):
    identities.create_user(account.id, "alice")
    identities.create_user(account.id, "bob")
    identities.put_user_policy(account.id, "alice", "pull", ALLOW_PULL)
    assert identities.user_policies(account.id, "bob") == {}


@pytest.mark.parametrize("document, path", [
    ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", '
     '"Resource": "*"}, {"Effect": "Maybe", "Action": "ecr:*", "Resource": "*"}]}',
     "Statement[1].Effect"),
    ('{"Version": "2012-10-17"}', "Statement"),
    ('{"Version": "1999-01-01", "Statement": []}', "Version"),
    ('{"Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*", '
     '"Principal": "*"}}', "Principal"),
])
def test_malformed_policy_names_where(identities, account, iam_generation, document, path):
    identities.create_user(account.id, "alice")
    before = iam_generation()
    with pytest.raises(PolicyError) as excinfo:
        identities.put_user_policy(account.id, "alice", "bad", document)
    assert path in str(excinfo.value)
    assert identities.user_policies(account.id, "alice") == {}
    assert iam_generation() == before


def test_policy_that_is_not_json(identities, account):
    identities.create_user(account.id, "alice")
    with pytest.raises(PolicyError):
        identities.put_user_policy(account.id, "alice", "bad", "{not json")


@pytest.mark.parametrize("name", ["", "x" * 129, "a/b", "a b"])
def test_bad_policy_name(identities, account, name):
    identities.create_user(account.id, "alice")
    with pytest.raises(IdentityError) as excinfo:
        identities.put_user_policy(account.id, "alice", name, ALLOW_PULL)
    assert _code(excinfo) == "ValidationError"


def test_policy_of_unknown_user(identities, account):
    for call in (lambda: identities.put_user_policy(account.id, "nobody", "p", ALLOW_PULL),
                 lambda: identities.user_policies(account.id, "nobody"),
                 lambda: identities.delete_user_policy(account.id, "nobody", "p")):
        with pytest.raises(IdentityError) as excinfo:
            call()
        assert _code(excinfo) == "NoSuchEntity"


# -- deleting users --------------------------------------------------------------------------
def test_delete_user_removes_keys_and_policies(db, identities, account, iam_generation):
    alice = identities.create_user(account.id, "alice")
    bob = identities.create_user(account.id, "bob")
    identities.create_access_key(account.id, "alice")
    identities.create_access_key(account.id, "alice")
    bob_key = identities.create_access_key(account.id, "bob")
    root_key = identities.create_access_key(account.id)
    identities.put_user_policy(account.id, "alice", "pull", ALLOW_PULL)
    identities.put_user_policy(account.id, "alice", "push", ALLOW_PUSH)
    identities.put_user_policy(account.id, "bob", "pull", ALLOW_PULL)
    before = iam_generation()
    identities.delete_user(account.id, "alice")
    assert iam_generation() == before + 1
    assert [u.name for u in identities.users(account.id)] == ["bob"]
    with db.read() as tx:
        assert tx.scalars(select(access_keys.c.id).where(access_keys.c.user_id == alice.id)) == []
        assert tx.scalars(select(user_policies.c.name).where(
            user_policies.c.user_id == alice.id)) == []
        assert tx.scalars(select(users.c.id).where(users.c.id == alice.id)) == []
    assert [k.id for k in identities.access_keys(account.id, "bob")] == [bob_key.id]
    assert [k.id for k in identities.access_keys(account.id)] == [root_key.id]
    assert list(identities.user_policies(account.id, "bob")) == ["pull"]
    # The name is free again.
    assert identities.create_user(account.id, "alice").id != alice.id
    assert identities.user_policies(account.id, "alice") == {}
    assert bob.name == "bob"


def test_delete_unknown_user(identities, account, iam_generation):
    before = iam_generation()
    with pytest.raises(IdentityError) as excinfo:
        identities.delete_user(account.id, "nobody")
    assert _code(excinfo) == "NoSuchEntity"
    assert iam_generation() == before
