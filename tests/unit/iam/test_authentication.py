import base64
import json
import time

import pytest

from berth.iam.authentication import Authenticator, Unauthenticated, basic_token
from berth.iam.identities import IAM_GENERATION
from berth.storage.metadata.generation_cache import GenerationCache
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import registries as registry_rows

ALLOW_PULL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "Pull", "Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]})


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


# -- basic_token -----------------------------------------------------------------------------
@pytest.mark.parametrize("header, token", [
    ("Basic " + _b64("AWS:v1.abc.def"), "v1.abc.def"),
    ("basic " + _b64("AWS:v1.abc.def"), "v1.abc.def"),
    ("BASIC  " + _b64("AWS:tok") + " ", "tok"),
    ("Basic " + _b64("AWS:with:colons"), "with:colons"),
    ("Basic " + _b64("AWS:"), ""),
])
def test_basic_token(header, token):
    assert basic_token(header) == token


@pytest.mark.parametrize("header, message", [
    (None, "authentication required"),
    ("", "authentication required"),
    ("Bearer v1.abc.def", "use HTTP Basic"),
    ("Digest username=AWS", "use HTTP Basic"),
    (_b64("AWS:Zq9sekret"), "use HTTP Basic"),  # no scheme
    ("Basic not*base64", "malformed"),
    ("Basic " + _b64("AWS:Zq9sekret")[:-1], "malformed"),
    ("Basic " + _b64(b"AWS:\xff\xfe"), "malformed"),
    ("Basic " + _b64("aws:Zq9sekret"), "user name must be AWS"),
    ("Basic " + _b64("admin:Zq9sekret"), "user name must be AWS"),
    ("Basic " + _b64("AWS"), "user name must be AWS"),
    ("Basic " + _b64("AWSZq9sekret"), "user name must be AWS"),
    ("Basic ", "user name must be AWS"),
])
def test_basic_token_refusals(header, message):
    with pytest.raises(Unauthenticated, match=message) as excinfo:
        basic_token(header)
    assert "Zq9sekret" not in str(excinfo.value)


# -- Authenticator ---------------------------------------------------------------------------
@pytest.fixture
def authenticator(master, tokens):
    return Authenticator(master, tokens)


@pytest.fixture
def caller_of(db, authenticator):
    """Resolve a token as a request would: in a read transaction, through the cache."""
    cache = GenerationCache()

    def resolve(token: str, now: float | None = None):
        with db.read() as tx:
            return authenticator.from_token(tx, cache.entries(tx), token, now)
    return resolve


@pytest.fixture
def secret_of(db, authenticator):
    cache = GenerationCache()

    def resolve(key_id: str):
        with db.read() as tx:
            return authenticator.secret(tx, cache.entries(tx), key_id)
    return resolve


@pytest.fixture
def account(identities):
    return identities.create_account("team-a")


def test_root_caller(identities, tokens, caller_of, account):
    key = identities.create_access_key(account.id)
    caller = caller_of(tokens.mint(key.id)[0])
    assert caller.principal.kind == "root"
    assert caller.principal.arn == f"arn:aws:iam::{account.id}:root"
    assert caller.account_id == account.id
    assert caller.access_key_id == key.id
    assert caller.policies == ()
    assert caller.is_admin is False


def test_admin_account_caller(identities, tokens, caller_of):
    admin = identities.create_account("admin", is_admin=True)
    key = identities.create_access_key(admin.id)
    assert caller_of(tokens.mint(key.id)[0]).is_admin is True


def test_user_caller_has_its_policies(identities, tokens, caller_of, account):
    user = identities.create_user(account.id, "alice", "/dev/")
    identities.put_user_policy(account.id, "alice", "pull", ALLOW_PULL)
    identities.put_user_policy(account.id, "alice", "audit", json.dumps({"Statement": {
        "Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"}}))
    key = identities.create_access_key(account.id, "alice")
    caller = caller_of(tokens.mint(key.id)[0])
    assert caller.principal.kind == "user"
    assert caller.principal.arn == f"arn:aws:iam::{account.id}:user/dev/alice"
    assert caller.principal.username == "alice"
    assert caller.principal.userid == user.id
    assert caller.account_id == account.id
    assert [p.name for p in caller.policies] == ["audit", "pull"]
    assert all(p.kind == "identity" for p in caller.policies)
    assert caller.is_admin is False


def test_policy_changes_reach_the_caller(identities, tokens, caller_of, account):
    identities.create_user(account.id, "alice")
    key = identities.create_access_key(account.id, "alice")
    token = tokens.mint(key.id)[0]
    assert caller_of(token).policies == ()
    identities.put_user_policy(account.id, "alice", "pull", ALLOW_PULL)
    assert [p.name for p in caller_of(token).policies] == ["pull"]
    identities.delete_user_policy(account.id, "alice", "pull")
    assert caller_of(token).policies == ()


def test_deactivated_key_revokes_its_tokens_for_good(identities, tokens, caller_of, account):
    key = identities.create_access_key(account.id)
    old = tokens.mint(key.id)[0]
    assert caller_of(old).access_key_id == key.id
    identities.set_access_key_active(account.id, key.id, False)
    with pytest.raises(Unauthenticated, match="revoked"):
        caller_of(old)
    later = time.time() + 1
    with pytest.raises(Unauthenticated, match="revoked"):
        caller_of(tokens.mint(key.id, now=later)[0], now=later)  # refused while inactive
    identities.set_access_key_active(account.id, key.id, True)
    with pytest.raises(Unauthenticated, match="revoked"):
        caller_of(old)  # issued before the deactivation
    new = tokens.mint(key.id, now=later)[0]
    assert caller_of(new, now=later).access_key_id == key.id


def test_token_minted_just_before_deactivation_stays_revoked(db, identities, tokens, caller_of,
                                                            account):
    key = identities.create_access_key(account.id)
    minted_at, deactivated_at = 1_700_000_000.0006, 1_700_000_000.0008
    token = tokens.mint(key.id, now=minted_at)[0]
    with db.write() as tx:  # the key deactivated 0.2 ms after minting, as set_access_key_active
        identity_rows.set_key_state(tx, key.id, False, deactivated_at)  # would record it
        registry_rows.bump(tx, IAM_GENERATION)
    identities.set_access_key_active(account.id, key.id, True)
    with pytest.raises(Unauthenticated, match="revoked"):
        caller_of(token, now=deactivated_at + 1)


def test_deleted_key(identities, tokens, caller_of, account):
    key = identities.create_access_key(account.id)
    token = tokens.mint(key.id)[0]
    caller_of(token)
    identities.delete_access_key(account.id, key.id)
    with pytest.raises(Unauthenticated):
        caller_of(token)


def test_deleted_user(identities, tokens, caller_of, account):
    identities.create_user(account.id, "alice")
    key = identities.create_access_key(account.id, "alice")
    token = tokens.mint(key.id)[0]
    caller_of(token)
    identities.delete_user(account.id, "alice")
    with pytest.raises(Unauthenticated):
        caller_of(token)


def test_token_for_a_key_that_never_existed(tokens, caller_of):
    with pytest.raises(Unauthenticated):
        caller_of(tokens.mint("AKIANOSUCHKEY0000000")[0])


def test_bad_tokens_are_unauthenticated(identities, tokens, caller_of, account):
    key = identities.create_access_key(account.id)
    token, expires = tokens.mint(key.id)
    with pytest.raises(Unauthenticated, match="expired"):
        caller_of(token, now=expires + 1)
    for bad in ("garbage", token[:-2], "v2" + token[2:]):
        with pytest.raises(Unauthenticated) as excinfo:
            caller_of(bad)
        assert bad not in str(excinfo.value)


def test_secret_for_active_keys_only(identities, secret_of, account):
    identities.create_user(account.id, "alice")
    key = identities.create_access_key(account.id, "alice")
    secret, caller = secret_of(key.id)
    assert secret == key.secret
    assert caller.principal.username == "alice" and caller.access_key_id == key.id
    identities.set_access_key_active(account.id, key.id, False)
    assert secret_of(key.id) is None
    identities.set_access_key_active(account.id, key.id, True)
    assert secret_of(key.id)[0] == key.secret
    identities.delete_access_key(account.id, key.id)
    assert secret_of(key.id) is None
    assert secret_of("AKIANOSUCHKEY0000000") is None


def test_secrets_of_different_keys(identities, secret_of, account):
    first = identities.create_access_key(account.id)
    second = identities.create_access_key(account.id)
    assert secret_of(first.id)[0] == first.secret
    assert secret_of(second.id)[0] == second.secret
    assert first.secret != second.secret
