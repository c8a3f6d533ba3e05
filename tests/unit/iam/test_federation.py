"""OpenID Connect federation (berth/iam/federation.py, jwks.py) against an issuer of the
test's own (tests/support/oidc_issuer.py): providers made as IAM makes them; tokens verified
(signature by a published key, issuer, audience, expiry with a minute of skew) and refused with
STS's codes otherwise, ``alg: none`` and an HMAC forged with the public key among them; keys
fetched once, again when the issuer rotates; pinned certificates; web identities becoming role
sessions only where the trust policy's conditions on aud and sub hold."""
from __future__ import annotations

import hashlib
import json
import ssl
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from berth.iam import jwks as jwks_module
from berth.iam.federation import ProviderService
from berth.iam.identities import IdentityError
from berth.iam.jwks import FederationError, Jwks
from berth.iam.roles import RoleService
from berth.iam.sessions import Request, SessionService, StsError
from tests.support.certificates import issue_pair, new_ca
from tests.support.oidc_issuer import OidcIssuer

AUDIENCE = "sts.amazonaws.com"


@pytest.fixture
def issuer():
    with OidcIssuer() as running:
        yield running


@pytest.fixture
def account(identities):
    return identities.create_account("team-a")


@pytest.fixture
def providers(db):
    return ProviderService(db, Jwks(), loopback_issuers=True)


def _code(caught) -> str:
    return caught.value.code


def test_providers_are_made_as_iam_makes_them(providers, account, issuer):
    made = providers.create(account.id, issuer.url + "/", [AUDIENCE])
    host_path = issuer.url.split("://", 1)[1]
    assert made.url == host_path and made.arn == (
        f"arn:aws:iam::{account.id}:oidc-provider/{host_path}")
    assert providers.get(made.arn) == made and providers.list(account.id) == [made]
    with pytest.raises(IdentityError) as again:
        providers.create(account.id, issuer.url, [AUDIENCE])
    assert _code(again) == "EntityAlreadyExists"
    providers.delete(made.arn)
    with pytest.raises(IdentityError) as gone:
        providers.get(made.arn)
    assert _code(gone) == "NoSuchEntity"


@pytest.mark.parametrize("url, thumbprints", [
    ("http://issuer.example.com", ()),  # plain http: only from this machine
    ("ftp://127.0.0.1/x", ()),
    ("https://issuer.example.com/?q=1", ()),
    ("https://" + "a" * 260, ()),
    ("https://issuer.example.com", ("not-hex",)),
    ("https://issuer.example.com", ("a" * 40,) * 6),
])
def test_invalid_providers_are_refused(providers, account, url, thumbprints):
    with pytest.raises(IdentityError) as refused:
        providers.create(account.id, url, [AUDIENCE], thumbprints)
    assert _code(refused) == "ValidationError"


def test_plain_http_issuers_on_this_machine_only_when_the_deployment_allows(db, account):
    strict = ProviderService(db, Jwks())
    with pytest.raises(IdentityError, match="must use https"):
        strict.create(account.id, "http://127.0.0.1:8080/issuer", [AUDIENCE])


@pytest.mark.parametrize("document", ['{"keys": []}', "[]", '"keys"', "3",
                                      '{"keys": [{"kty": "RSA", "alg": "none"}]}'])
def test_a_jwks_without_usable_keys_is_refused(providers, account, document):
    with pytest.raises(FederationError):
        providers.create(account.id, "https://issuer.example.com", [AUDIENCE], jwks=document)


def test_a_good_token_is_verified_and_its_keys_fetched_once(providers, account, issuer):
    providers.create(account.id, issuer.url, [AUDIENCE])
    for _ in range(3):
        provider, claims = providers.verify(account.id, issuer.token(sub="ci:builder"))
        assert claims["sub"] == "ci:builder" and provider.issuer == issuer.url
    assert issuer.fetches == 1
    ec_kid = issuer.keys[1][0]
    assert providers.verify(account.id, issuer.token(kid=ec_kid))[1]["sub"] == "ci:builder"


@pytest.mark.parametrize("change, code", [
    ({"aud": "someone-else"}, "InvalidIdentityToken"),
    ({"expires_in": -120}, "ExpiredTokenException"),
    ({"issuer": "http://127.0.0.1:1/other"}, "InvalidIdentityToken"),
    ({"sub": None}, "InvalidIdentityToken"),
])
def test_tokens_are_refused_with_stss_codes(providers, account, issuer, change, code):
    providers.create(account.id, issuer.url, [AUDIENCE])
    claims = dict(change)
    if claims.get("sub", "x") is None:
        token = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": time.time() + 60},
                           issuer.keys[-1][1], algorithm="RS256",
                           headers={"kid": issuer.keys[-1][0]})
    else:
        token = issuer.token(**claims)
    with pytest.raises(FederationError) as refused:
        providers.verify(account.id, token)
    assert _code(refused) == code


def test_a_minute_of_clock_skew_is_allowed(providers, account, issuer):
    providers.create(account.id, issuer.url, [AUDIENCE])
    providers.verify(account.id, issuer.token(expires_in=-30))


def test_alg_none_and_a_hmac_forged_with_the_public_key_are_refused(providers, account,
                                                                      issuer):
    providers.create(account.id, issuer.url, [AUDIENCE])
    claims = {"iss": issuer.url, "sub": "mallory", "aud": AUDIENCE, "exp": time.time() + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    public_pem = issuer.keys[0][1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = _hmac_token(claims, public_pem, issuer.keys[0][0])
    for token in (unsigned, forged, token_with_wrong_signature(issuer)):
        with pytest.raises(FederationError) as refused:
            providers.verify(account.id, token)
        assert _code(refused) == "InvalidIdentityToken"


def _hmac_token(claims: dict, secret: bytes, kid: str) -> str:
    """HS256 with the RSA public key as its secret (PyJWT refuses to make one: by hand)."""
    import base64
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def token_with_wrong_signature(issuer: OidcIssuer) -> str:
    head, body, _ = issuer.token().split(".")
    other = OidcIssuer().token(issuer=issuer.url).split(".")[2]
    return f"{head}.{body}.{other}"


def test_a_rotated_key_is_fetched_again(providers, account, issuer, monkeypatch):
    providers.create(account.id, issuer.url, [AUDIENCE])
    providers.verify(account.id, issuer.token())
    new_kid = issuer.rotate()
    with pytest.raises(FederationError):  # fetched moments ago: not again so soon
        providers.verify(account.id, issuer.token(kid=new_kid))
    assert issuer.fetches == 1
    monkeypatch.setattr(jwks_module, "REFETCH_AFTER", 0.0)
    providers.verify(account.id, issuer.token(kid=new_kid))
    assert issuer.fetches == 2


def test_keys_given_outright_need_no_issuer(providers, account, issuer):
    url = "https://unreachable.example.com/ci"
    providers.create(account.id, url, [AUDIENCE], jwks=json.dumps(issuer.jwks()))
    assert providers.verify(account.id, issuer.token(issuer=url))[1]["iss"] == url
    assert issuer.fetches == 0


def test_a_pinned_certificate_is_trusted_and_no_other(providers, account, tmp_path):
    ca = new_ca(tmp_path / "ca")
    issue_pair(ca, tmp_path / "cert.pem", tmp_path / "key.pem", ["127.0.0.1"])
    pem = (tmp_path / "cert.pem").read_text()
    thumbprint = hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    with OidcIssuer(tls=(tmp_path / "cert.pem", tmp_path / "key.pem")) as issuer:
        providers.create(account.id, issuer.url, [AUDIENCE], ["0" * 40, thumbprint])
        providers.verify(account.id, issuer.token())
        other = ProviderService(providers.db, Jwks(), loopback_issuers=True)
        second = other.create(issuer_account(providers, "b"), issuer.url, [AUDIENCE])
        with pytest.raises(FederationError) as untrusted:  # not pinned, not a public CA
            other.verify(second.account_id, issuer.token())
        assert _code(untrusted) == "IDPCommunicationError"


def issuer_account(providers, name: str) -> str:
    from berth.iam.identities import IdentityService
    from berth.keys.master import MasterKey
    import os
    return IdentityService(providers.db, MasterKey(os.urandom(32))).create_account(name).id


# -- AssumeRoleWithWebIdentity ---------------------------------------------------------------
def _trust(provider_arn: str, host_path: str, sub: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host_path}:aud": AUDIENCE},
                      "StringLike": {f"{host_path}:sub": sub}}}]})


def test_a_web_identity_becomes_a_role_session_where_the_trust_allows(
        db, master, providers, account, issuer):
    provider = providers.create(account.id, issuer.url, [AUDIENCE])
    role = RoleService(db).create(account.id, "ci", _trust(provider.arn, provider.url,
                                                           "repo:team/*"))
    sessions = SessionService(db, master)
    assumed, found, claims = providers.assume_role(
        sessions, Request(role.arn, "gha-run-1"), issuer.token(sub="repo:team/app"))
    assert assumed.arn == f"arn:aws:sts::{account.id}:assumed-role/ci/gha-run-1"
    assert found == provider and claims["aud"] == AUDIENCE
    for token in (issuer.token(sub="repo:other/app"),  # the trust's sub condition
                  issuer.token(sub="repo:team/app", aud=[AUDIENCE, "x"], azp="x")):
        with pytest.raises(StsError) as refused:
            providers.assume_role(sessions, Request(role.arn, "s1"), token)
        assert refused.value.message == "Not authorized to perform " \
                                        "sts:AssumeRoleWithWebIdentity"


def test_a_provider_of_another_account_does_not_count(db, master, providers, account,
                                                      identities, issuer):
    other = identities.create_account("team-b")
    provider = providers.create(other.id, issuer.url, [AUDIENCE])
    role = RoleService(db).create(account.id, "ci", _trust(provider.arn, provider.url, "*"))
    with pytest.raises(FederationError) as refused:
        providers.assume_role(SessionService(db, master), Request(role.arn, "s1"),
                              issuer.token())
    assert "No OpenIDConnect provider found in your account" in refused.value.message


def test_a_trust_for_the_accounts_own_principals_does_not_admit_web_identities(
        db, master, providers, account, issuer):
    providers.create(account.id, issuer.url, [AUDIENCE])
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"],
        "Condition": {"StringEquals": {"aws:PrincipalAccount": account.id}}}]})
    role = RoleService(db).create(account.id, "internal", trust)
    with pytest.raises(StsError, match="Not authorized"):
        providers.assume_role(SessionService(db, master), Request(role.arn, "s1"),
                              issuer.token())


# -- session tags and source identity from the token ----------------------------------------
TAGS = "https://aws.amazon.com/tags"


def _tagging_trust(provider_arn: str, host_path: str, *extra_actions) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": ["sts:AssumeRoleWithWebIdentity", *extra_actions],
        "Condition": {"StringEquals": {f"{host_path}:aud": AUDIENCE}}}]})


def test_a_tokens_session_tags_and_source_identity_need_the_trusts_leave(
        db, master, providers, account, issuer, tokens):
    from berth.iam.authentication import Authenticator
    from berth.iam.authorization import require
    from berth.storage.metadata.generation_cache import GenerationCache

    provider = providers.create(account.id, issuer.url, [AUDIENCE])
    roles = RoleService(db)
    plain = roles.create(account.id, "plain", _tagging_trust(provider.arn, provider.url))
    tagging = roles.create(account.id, "tagging", _tagging_trust(
        provider.arn, provider.url, "sts:TagSession", "sts:SetSourceIdentity"))
    roles.put_policy(account.id, "tagging", "p", json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/Project": "Automation"}}}]}))
    sessions = SessionService(db, master)
    claims = {TAGS: {"principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"]},
                     "transitive_tag_keys": ["Project"]},
              "https://aws.amazon.com/source_identity": "alice"}
    with pytest.raises(StsError, match="Not authorized to perform sts:TagSession"):
        providers.assume_role(sessions, Request(plain.arn, "s1"), issuer.token(**claims))
    assumed, _, _ = providers.assume_role(sessions, Request(tagging.arn, "s1"),
                                          issuer.token(**claims))
    assert assumed.source_identity == "alice"
    authenticator, cache = Authenticator(master, tokens), GenerationCache()
    with db.read() as tx:
        _, caller = authenticator.secret(tx, cache.entries(tx), assumed.credentials.access_key_id,
                                         assumed.credentials.session_token)
    assert dict(caller.session.tags) == {"Project": "Automation", "CostCenter": "987654"}
    assert caller.session.transitive_tag_keys == ("Project",)
    require(caller, "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{account.id}:repository/a")


@pytest.mark.parametrize("tagging", [
    ["not", "an", "object"],
    {"principal_tags": {"Project": ["two", "values"]}},
    {"principal_tags": {"Project": 5}},
    {"principal_tags": {"k" * 129: "v"}},
    {"principal_tags": {"Project": "x"}, "transitive_tag_keys": "Project"},
])
def test_malformed_session_claims_are_refused(db, master, providers, account, issuer, tagging):
    provider = providers.create(account.id, issuer.url, [AUDIENCE])
    role = RoleService(db).create(account.id, "r", _tagging_trust(
        provider.arn, provider.url, "sts:TagSession"))
    with pytest.raises(FederationError) as refused:
        providers.assume_role(SessionService(db, master), Request(role.arn, "s1"),
                              issuer.token(**{TAGS: tagging}))
    assert refused.value.code == "InvalidIdentityToken"
    assert "session claims are malformed" in refused.value.message


def _sha1(pem: str) -> str:
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_a_pinned_ca_in_the_presented_chain_anchors_its_verification(providers, account,
                                                                    tmp_path):
    """AWS's thumbprint is the issuer's top intermediate CA: a pin of a CA certificate the
    issuer presents trusts it, if that CA signs the issuer's certificate."""
    ca, rogue = new_ca(tmp_path / "ca"), new_ca(tmp_path / "rogue")
    issue_pair(ca, tmp_path / "cert.pem", tmp_path / "key.pem", ["127.0.0.1"])
    ca_pem = ca.cert_path.read_text()
    (tmp_path / "chain.pem").write_text((tmp_path / "cert.pem").read_text() + ca_pem)
    with OidcIssuer(tls=(tmp_path / "chain.pem", tmp_path / "key.pem")) as issuer:
        providers.create(account.id, issuer.url, [AUDIENCE], [_sha1(ca_pem)])
        assert providers.verify(account.id, issuer.token())[1]["sub"] == "ci:builder"
    # An impostor's certificate, with the pinned CA's certificate merely sent along.
    issue_pair(rogue, tmp_path / "fake.pem", tmp_path / "fake-key.pem", ["127.0.0.1"])
    (tmp_path / "fake-chain.pem").write_text((tmp_path / "fake.pem").read_text() + ca_pem)
    with OidcIssuer(tls=(tmp_path / "fake-chain.pem", tmp_path / "fake-key.pem")) as impostor:
        other = ProviderService(providers.db, Jwks(), loopback_issuers=True)
        second = other.create(issuer_account(providers, "b"), impostor.url, [AUDIENCE],
                              [_sha1(ca_pem)])
        with pytest.raises(FederationError) as refused:
            other.verify(second.account_id, impostor.token())
        assert _code(refused) == "IDPCommunicationError"
        third = other.create(issuer_account(providers, "c"), impostor.url, [AUDIENCE],
                             [_sha1(rogue.cert_path.read_text())])  # not presented
        with pytest.raises(FederationError) as unpinned:
            other.verify(third.account_id, impostor.token())
        assert _code(unpinned) == "IDPCommunicationError"
