"""Notation's trust policy as berth/signing/trust_policy.py reads it: the document's rules
(version, scopes, levels and overrides, stores, identities), what each refuses, which policy
a scope takes, and identities matched as a subset of the certificate's subject."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from berth.signing.configuration import validate
from berth.signing.models import SigningConfigurationInvalid
from berth.signing.trust_policy import TrustPolicyInvalid, parse, policy_for


def _doc(*policies: dict, version: str = "1.0") -> dict:
    return {"version": version, "trustPolicies": list(policies)}


def _policy(name="p", scopes=("*",), level="strict", stores=("ca:s",), identities=("*",),
            **more) -> dict:
    return {"name": name, "registryScopes": list(scopes),
            "signatureVerification": {"level": level, **more},
            "trustStores": list(stores), "trustedIdentities": list(identities)}


def _subject(**rdns: str) -> x509.Name:
    oids = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
            "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in rdns.items()])


def test_the_exact_scope_wins_over_the_global_one():
    policies = parse(_doc(_policy("global"), _policy("app", scopes=["reg.example/team/app"])))
    assert policy_for(policies, "reg.example/team/app").name == "app"
    assert policy_for(policies, "reg.example/team/other").name == "global"
    assert policy_for(parse(_doc(_policy("app", scopes=["r/a"]))), "r/b") is None


@pytest.mark.parametrize("document, says", [
    (_doc(_policy(), version="2.0"), '"version": "1.0"'),
    ({"version": "1.0", "trustPolicies": []}, "non-empty"),
    (_doc(_policy(scopes=["*", "r/a"])), "only scope"),
    (_doc(_policy("a", scopes=["r/a"]), _policy("b", scopes=["r/a"])), "is in trust policies"),
    (_doc(_policy(level="lenient")), "level must be one of"),
    (_doc(_policy(level="skip")), "cannot skip"),
    (_doc(_policy(override={"integrity": "log"})), "not allowed"),
    (_doc(_policy(override={"expiry": "skip"})), "not allowed"),
    (_doc(_policy(stores=[])), "required unless"),
    (_doc(_policy(stores=["x509:x"])), "not a trust store"),
    (_doc(_policy(stores=["ca:x", 7])), "trustStores is a list of strings"),
    (_doc(_policy(identities=[{"x509.subject": "C=US"}])), "trustedIdentities is a list"),
    (_doc(_policy(level=["strict"])), "level must be one of"),
    (_doc({**_policy(), "signatureVerification": "strict"}), "signatureVerification is an"),
    (_doc(_policy(override=["expiry"])), "signatureVerification is an"),
    (_doc(_policy(identities=["x509.subject: CN=only"])), "at least C, ST and O"),
    (_doc(_policy(identities=["subject: C=US"])), "'*' or 'x509.subject"),
    (_doc(_policy(identities=["x509.subject: C=US, C=DE, ST=WA, O=x"])), "one RDN"),
    ("{not json", "not JSON"),
])
def test_what_is_refused(document, says):
    with pytest.raises(TrustPolicyInvalid) as caught:
        parse(document)
    assert says in caught.value.message


def test_a_skip_policy_needs_no_stores_for_its_own_scope():
    [skip] = parse(_doc(_policy(scopes=["r/a"], level="skip", stores=[], identities=[])))
    assert skip.actions == dict.fromkeys(skip.actions, "skip")


def test_identities_match_as_a_subset_of_the_subject():
    [policy] = parse(_doc(_policy(identities=[
        r"x509.subject: C=US, S=WA, O=Acme\, Inc."])))
    assert policy.trusts(_subject(C="US", ST="WA", O="Acme, Inc.", CN="builder"))
    assert not policy.trusts(_subject(C="US", ST="WA", O="Acme", CN="builder"))
    assert not policy.trusts(_subject(C="US", O="Acme, Inc.", CN="builder"))


def test_signing_rules_match_repositories_as_ecr_documents():
    arn = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/{}"
    config = validate([
        {"signingProfileArn": arn.format("apps"),
         "repositoryFilters": [{"filter": "myapp/*", "filterType": "WILDCARD_MATCH"},
                               {"filter": "*/production", "filterType": "WILDCARD_MATCH"}]},
        {"signingProfileArn": arn.format("prod"),
         "repositoryFilters": [{"filter": "*prod*", "filterType": "WILDCARD_MATCH"}]},
        {"signingProfileArn": arn.format("all")}])
    names = lambda repo: [a.rsplit("/", 1)[1] for a in config.profiles_for(repo)]  # noqa: E731
    assert names("myapp/web") == ["apps", "all"]
    assert names("team/production") == ["apps", "prod", "all"]
    assert names("myapp") == ["all"]  # myapp/* needs the slash
    assert names("reproduce") == ["prod", "all"]


@pytest.mark.parametrize("rules, says", [
    ([{"signingProfileArn": "arn:aws:signer:us-east-1:1:/signing-profiles/x"}], "ARN"),
    ([{"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ab",
       "repositoryFilters": [{"filter": "a b", "filterType": "WILDCARD_MATCH"}]}], "filter"),
    ([{"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ab"}]
     * 11, "at most 10"),
])
def test_the_domain_refuses_what_the_model_would(rules, says):
    with pytest.raises(SigningConfigurationInvalid) as caught:
        validate(rules)
    assert says in caught.value.message
