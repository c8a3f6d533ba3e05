"""Temporary credentials (berth/iam/sessions.py), on both databases: who may assume a role
(trust policy and the caller's own policies, as IAM evaluates them across accounts), the
limits on durations, session policies narrowing, session tags and source identity, and the
credentials' life: they authenticate with their session token only, lapse at their expiry
(registry tokens with them), die with their role, and a role's older sessions are revoked by
IAM's AWSRevokeOlderSessions policy. GetSessionToken gives a user's own permissions."""
from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from berth.cli.roles import revoke_older_sessions
from berth.iam import authentication
from berth.iam.authentication import Authenticator, Unauthenticated
from berth.iam.authorization import AccessDenied, require
from berth.iam.roles import RoleService
from berth.iam.sessions import Request, SessionService, StsError
from berth.iam.sigv4 import ExpiredToken
from berth.storage.metadata.generation_cache import GenerationCache
from berth.storage.metadata.roles import sts_sessions

PULL = "ecr:BatchGetImage"
REPO = "arn:aws:ecr:us-east-1:{}:repository/app"


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _trust(principal, **extra) -> str:
    return _policy({"Effect": "Allow", "Principal": {"AWS": principal},
                    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                    **extra})


@pytest.fixture
def world(db, master, identities, tokens):
    class World:
        roles = RoleService(db)
        sessions = SessionService(db, master)
        authenticator = Authenticator(master, tokens)
        cache = GenerationCache()
        account = identities.create_account("team-a")
        other = identities.create_account("team-b")

        def caller(self, key_id, token=None):
            with db.read() as tx:
                found = self.authenticator.secret(tx, self.cache.entries(tx), key_id, token)
            return None if found is None else found[1]

        def user(self, name, *statements, account=None):
            account = account or self.account
            identities.create_user(account.id, name)
            if statements:
                identities.put_user_policy(account.id, name, "p", _policy(*statements))
            return self.caller(identities.create_access_key(account.id, name).id)

        def role(self, name, trust, *statements, **options):
            role = self.roles.create(self.account.id, name, trust, **options)
            if statements:
                self.roles.put_policy(self.account.id, name, "p", _policy(*statements))
            return role

        def assume(self, caller, role, **options):
            assumed = self.sessions.assume_role(caller, Request(role.arn, "s1", **options))
            found = assumed.credentials
            return assumed, self.caller(found.access_key_id, found.session_token)
    return World()


def test_a_role_the_trust_and_the_callers_policy_allow_is_assumed(world):
    role = world.role("puller", _trust(world.account.id), _allow(PULL))
    alice = world.user("alice", _allow("sts:AssumeRole", role.arn))
    assumed, session = world.assume(alice, role)
    assert assumed.arn == f"arn:aws:sts::{world.account.id}:assumed-role/puller/s1"
    assert assumed.assumed_role_id == f"{role.id}:s1" and role.id.startswith("AROA")
    assert assumed.credentials.access_key_id.startswith("ASIA")
    assert 3590 < assumed.credentials.expiration - time.time() <= 3600
    assert session.principal.arn == assumed.arn and session.principal.role_arn == role.arn
    require(session, PULL, REPO.format(world.account.id))  # the role's policy, not alice's
    with pytest.raises(AccessDenied):
        require(session, "ecr:PutImage", REPO.format(world.account.id))


def test_a_trust_naming_the_account_needs_the_callers_own_allow(world):
    role = world.role("r", _trust(world.account.id))
    bob = world.user("bob")
    with pytest.raises(StsError) as refused:
        world.assume(bob, role)
    assert refused.value.code == "AccessDenied"
    # STS's plain words, the same as for a role that does not exist.
    assert refused.value.message == (f"User: arn:aws:iam::{world.account.id}:user/bob is not "
                                     f"authorized to perform: sts:AssumeRole on resource: "
                                     f"{role.arn}")


def test_a_trust_naming_the_user_needs_nothing_more(world, identities):
    identities.create_user(world.account.id, "carol")
    role = world.role("r", _trust(f"arn:aws:iam::{world.account.id}:user/carol"))
    carol = world.caller(identities.create_access_key(world.account.id, "carol").id)
    world.assume(carol, role)
    dave = world.user("dave", _allow("sts:AssumeRole"))
    with pytest.raises(StsError, match="no resource-based policy|not authorized"):
        world.assume(dave, role)


def test_another_account_needs_the_trust_and_its_own_allow(world, identities):
    role = world.role("shared", _trust(world.other.id))
    outsider = world.user("eve", _allow("sts:AssumeRole", role.arn), account=world.other)
    _, session = world.assume(outsider, role)
    assert session.account_id == world.account.id  # the role's account
    stranger = world.user("mallory", _allow("sts:AssumeRole"), account=world.other)
    identities.create_account("team-c")
    untrusted = world.role("private", _trust(world.account.id))
    with pytest.raises(StsError):
        world.assume(stranger, untrusted)


def test_an_unknown_role_is_refused_as_one_the_caller_may_not_assume(world):
    alice = world.user("alice", _allow("sts:AssumeRole"))
    arn = f"arn:aws:iam::{world.account.id}:role/nope"
    with pytest.raises(StsError) as refused:
        world.sessions.assume_role(alice, Request(arn, "s"))
    assert refused.value.code == "AccessDenied" and arn in refused.value.message
    role = world.role("pathed", _trust(world.account.id), path="/ci/")
    with pytest.raises(StsError):  # its ARN without the path names no role
        world.sessions.assume_role(alice, Request(role.arn.replace("/ci/", "/"), "s"))
    world.assume(alice, role)


def test_roots_may_not_assume_roles(world, identities):
    role = world.role("r", _trust(world.account.id))
    root = world.caller(identities.create_access_key(world.account.id).id)
    with pytest.raises(StsError, match="Roles may not be assumed by root accounts"):
        world.assume(root, role)


def test_the_external_id_condition(world):
    role = world.role("vendor", _trust(world.other.id, Condition={
        "StringEquals": {"sts:ExternalId": "s3cr3t-id"}}))
    vendor = world.user("v", _allow("sts:AssumeRole"), account=world.other)
    with pytest.raises(StsError):
        world.assume(vendor, role)
    with pytest.raises(StsError):
        world.assume(vendor, role, external_id="wrong")
    world.assume(vendor, role, external_id="s3cr3t-id")


def test_durations(world):
    role = world.role("long", _trust(world.account.id), _allow("sts:AssumeRole"),
                      max_session_seconds=7200)
    alice = world.user("alice", _allow("sts:AssumeRole"))
    assumed, session = world.assume(alice, role, duration=7200)
    assert 7190 < assumed.credentials.expiration - time.time() <= 7200
    with pytest.raises(StsError, match="exceeds the MaxSessionDuration"):
        world.assume(alice, role, duration=7201)
    with pytest.raises(StsError, match="1 hour session limit for roles assumed by role "
                                       "chaining"):
        world.assume(session, role, duration=3601)
    world.assume(session, role, duration=3600)  # chaining within the hour


def test_a_session_policy_narrows_the_roles_permissions(world):
    role = world.role("wide", _trust(world.account.id), _allow("ecr:*"))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    _, session = world.assume(alice, role, policy=_policy(_allow(PULL)))
    repo = REPO.format(world.account.id)
    require(session, PULL, repo)
    with pytest.raises(AccessDenied, match="because no session policy allows the "
                                           "ecr:PutImage action"):
        require(session, "ecr:PutImage", repo)
    _, denied = world.assume(alice, role, policy=_policy(
        _allow("ecr:*"), {"Effect": "Deny", "Action": PULL, "Resource": "*"}))
    with pytest.raises(AccessDenied, match="with an explicit deny in a session policy"):
        require(denied, PULL, repo)
    with pytest.raises(StsError) as bad:
        world.assume(alice, role, policy="{not json")
    assert bad.value.code == "MalformedPolicyDocument"
    with pytest.raises(StsError) as managed:
        world.assume(alice, role, policy_arns=("arn:aws:iam::aws:policy/ReadOnly",))
    assert managed.value.code == "MalformedPolicyDocument"


def test_session_tags_need_tag_session_and_transitive_ones_carry_over(world):
    role = world.role("tagged", _trust(world.account.id),
                      _allow("sts:*"), _allow(PULL, Condition={
                          "StringEquals": {"aws:PrincipalTag/team": "a"}}))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    with pytest.raises(StsError, match="sts:TagSession"):
        world.assume(alice, role, tags=(("team", "a"),))
    tagger = world.user("tagger", _allow(["sts:AssumeRole", "sts:TagSession"]))
    assumed, session = world.assume(tagger, role, tags=(("team", "a"), ("x", "1")),
                                    transitive_tag_keys=("team",))
    assert assumed.packed_policy_size is not None
    require(session, PULL, REPO.format(world.account.id))  # aws:PrincipalTag/team
    _, chained = world.assume(session, role)
    assert dict(chained.session.tags) == {"team": "a"}  # only the transitive one
    with pytest.raises(StsError, match="cannot be overridden"):
        world.assume(session, role, tags=(("TEAM", "b"),))
    with pytest.raises(StsError, match="Duplicate tag keys"):
        world.assume(tagger, role, tags=(("k", "1"), ("K", "2")))


def test_a_source_identity_sticks_to_the_chain(world):
    role = world.role("r", _trust(world.account.id), _allow("sts:*"))
    alice = world.user("alice", _allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))
    assumed, session = world.assume(alice, role, source_identity="alice@corp")
    assert assumed.source_identity == "alice@corp"
    again, chained = world.assume(session, role)
    assert again.source_identity == "alice@corp"
    with pytest.raises(StsError, match="cannot be changed"):
        world.assume(chained, role, source_identity="mallory")


def test_the_credentials_need_their_own_session_token(world):
    role = world.role("r", _trust(world.account.id))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    found = world.sessions.assume_role(alice, Request(role.arn, "s")).credentials
    assert world.caller(found.access_key_id) is None
    assert world.caller(found.access_key_id, found.session_token + "x") is None
    assert world.caller(found.access_key_id, found.session_token) is not None
    assert world.caller(alice.access_key_id, found.session_token) is None  # a long-term key


def test_lapsed_credentials_and_their_registry_tokens_are_refused(world, db, tokens,
                                                                 monkeypatch):
    role = world.role("r", _trust(world.account.id))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    assumed, session = world.assume(alice, role, duration=900)
    token, expires = tokens.mint(session.access_key_id, not_after=session.expires_at)
    assert expires == session.expires_at  # never outlives the credentials
    later = session.expires_at + 1
    unbounded, _ = tokens.mint(session.access_key_id)  # as if minted without the bound
    with db.read() as tx:
        entries = world.cache.entries(tx)
        assert world.authenticator.from_token(tx, entries, token, later - 2) == session
        with pytest.raises(Unauthenticated, match="expired"):
            world.authenticator.from_token(tx, entries, token, later)
        with pytest.raises(Unauthenticated, match="credentials that minted"):
            world.authenticator.from_token(tx, entries, unbounded, later)
    key = assumed.credentials
    monkeypatch.setattr(authentication, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(ExpiredToken):
        world.caller(key.access_key_id, key.session_token)


def test_deleting_the_role_ends_its_sessions(world):
    role = world.role("doomed", _trust(world.account.id))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    found = world.sessions.assume_role(alice, Request(role.arn, "s")).credentials
    world.roles.delete(world.account.id, "doomed")
    assert world.caller(found.access_key_id, found.session_token) is None


def test_revoking_older_sessions_denies_them_and_not_later_ones(world):
    role = world.role("r", _trust(world.account.id), _allow(PULL))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    old, _ = world.assume(alice, role)
    time.sleep(1.1)  # IAM's policy compares whole seconds
    world.roles.put_policy(world.account.id, "r", "AWSRevokeOlderSessions",
                           revoke_older_sessions(time.time()))
    time.sleep(1.1)
    new, _ = world.assume(alice, role)
    repo = REPO.format(world.account.id)
    with pytest.raises(AccessDenied, match="explicit deny"):
        require(world.caller(old.credentials.access_key_id, old.credentials.session_token),
                PULL, repo)
    require(world.caller(new.credentials.access_key_id, new.credentials.session_token),
            PULL, repo)


def test_a_users_session_token_carries_the_users_permissions(world, identities):
    alice = world.user("alice", _allow(PULL))
    found = world.sessions.session_token(alice)
    assert 43190 < found.expiration - time.time() <= 43200
    session = world.caller(found.access_key_id, found.session_token)
    assert session.principal == alice.principal and session.session is not None
    require(session, PULL, REPO.format(world.account.id))
    with pytest.raises(StsError, match="Cannot call GetSessionToken with session "
                                       "credentials"):
        world.sessions.session_token(session)
    root = world.caller(identities.create_access_key(world.account.id).id)
    capped = world.sessions.session_token(root, 7200)
    assert capped.expiration - time.time() <= 3600  # a root's last an hour at most


def test_lapsed_sessions_are_pruned_a_day_later(world, db):
    role = world.role("r", _trust(world.account.id))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    found = world.sessions.assume_role(alice, Request(role.arn, "s", duration=900))
    assert world.sessions.prune(found.credentials.expiration + 3600) == 0
    assert world.sessions.prune(found.credentials.expiration + 2 * 86400) == 1


def test_a_refused_caller_learns_nothing_of_the_roles_settings(world):
    role = world.role("secretive", _trust(world.account.id), max_session_seconds=3600)
    bob = world.user("bob")  # no sts:AssumeRole
    missing = Request(f"arn:aws:iam::{world.account.id}:role/absent", "s1", duration=43200)
    messages = []
    for request in (Request(role.arn, "s1", duration=43200), missing):
        with pytest.raises(StsError) as refused:
            world.sessions.assume_role(bob, request)
        assert refused.value.code == "AccessDenied"
        messages.append(refused.value.message.replace(request.role_arn, "<arn>"))
    assert messages[0] == messages[1]


def test_a_refused_packed_size_issues_no_credentials(world, db):
    role = world.role("r", _trust(world.account.id))
    alice = world.user("alice", _allow(["sts:AssumeRole", "sts:TagSession"]))
    with db.read() as tx:
        before = tx.scalar(_COUNT)
    with pytest.raises(StsError) as refused:
        world.assume(alice, role, policy=_policy(_allow(PULL, [
            f"arn:aws:ecr:us-east-1:{world.account.id}:repository/r{n}" for n in range(20)])),
                     tags=(("k", "v" * 256),) * 1 + tuple((f"t{n}", "v" * 200) for n in range(4)))
    assert refused.value.code == "PackedPolicyTooLarge"
    with db.read() as tx:
        assert tx.scalar(_COUNT) == before


_COUNT = select(func.count().label("n")).select_from(sts_sessions)


def test_a_session_policy_does_not_block_what_another_accounts_policy_grants(world):
    from berth.iam.policy import parse_policy
    role = world.role("wide", _trust(world.account.id), _allow("ecr:*"))
    alice = world.user("alice", _allow("sts:AssumeRole"))
    _, session = world.assume(alice, role, policy=_policy(_allow(PULL)))
    other_repo = REPO.format(world.other.id)
    granted = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": role.arn}, "Action": "ecr:*"}]}),
        kind="resource", name="repository policy")
    require(session, PULL, other_repo, (granted,))
    with pytest.raises(AccessDenied, match="no session policy allows"):
        require(session, "ecr:PutImage", other_repo, (granted,))
