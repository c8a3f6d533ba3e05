"""The signing operations through the admin API: signing profiles issued by the account's own
CA (a code-signing leaf under a self-signed CA, subject C=US, ST=Berth, O=<account>,
CN=<profile>) or imported from a chain an organisation's CA made (checked against the Notary
Project's rules), listed, shown, revoked; GetSigningTrust (the trust store's certificates and
a trust policy trusting the active profiles only); all authorized on the account's root (one
account cannot act on another's). VerifyImageSignatures reads storage: the administrator
account only."""
from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from berth.app import open_registry
from berth.config import Settings
from berth.signing import trust_policy
from berth.signing.configuration import SigningConfigurations
from tests.support.registry_images import push_image
from tests.support.signing_jobs import sign_pending
from tests.support.repositories import pushes_create

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["__type"] == code, response.text
    return response.json()["message"]


def _certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def _attribute(name: x509.Name, oid) -> list[str]:
    return [a.value for a in name.get_attributes_for_oid(oid)]


# -- a chain made here, as an organisation's CA would ----------------------------------------
def _name(common_name: str, org: str = "Example Org") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Berlin"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(**set_) -> x509.KeyUsage:
    flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                           "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                           "encipher_only", "decipher_only"), False)
    return x509.KeyUsage(**{**flags, **set_})


def _root(common_name: str = "Example Root CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key, ca_cert, common_name: str = "Example Signer", *, is_ca: bool = False,
          usage: x509.KeyUsage | None = None,
          eku: tuple = (ExtendedKeyUsageOID.CODE_SIGNING,)):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(common_name))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), True)
               .add_extension(usage or _usage(digital_signature=True), True))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _identity(account: str, name: str, region: str = "us-east-1") -> str:
    return f"x509.subject: C=US, ST=Berth, L={region}, O={account}, CN={name}"


# -- profiles issued by the account's CA -----------------------------------------------------
def test_a_profile_is_issued_by_the_accounts_ca(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    response = admin_api.call(root, "CreateSigningProfile", {"ProfileName": "release",
                                                             "SignatureValidityDays": "30"})
    made = _ok(response)["Profile"]
    assert made["ProfileName"] == "release" and made["Status"] == "Active"
    assert made["ProfileArn"] == f"arn:aws:signer:us-east-1:{account}:/signing-profiles/release"
    assert made["Imported"] is False and made["SignatureValidityDays"] == 30
    assert "RevokedAt" not in made
    assert "PRIVATE KEY" not in response.text
    chain = _certs(made["CertificateChain"])
    assert len(chain) == 2
    leaf, ca = chain
    assert _attribute(leaf.subject, NameOID.COMMON_NAME) == ["release"]
    assert _attribute(leaf.subject, NameOID.ORGANIZATION_NAME) == [account]
    assert _attribute(ca.subject, NameOID.ORGANIZATION_NAME) == [account]
    leaf.verify_directly_issued_by(ca)   # raises unless the CA signed the leaf
    ca.verify_directly_issued_by(ca)     # a self-signed root
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CODE_SIGNING]
    # The leaf's validity follows ValidityDays (default two years).
    assert 729 <= (leaf.not_valid_after_utc - NOW).days <= 730
    # A second profile comes from the same CA; an explicit AccountId names the same account.
    short = _ok(admin_api.call(root, "CreateSigningProfile", {
        "AccountId": account, "ProfileName": "nightly", "ValidityDays": "3"}))["Profile"]
    short_leaf, short_ca = _certs(short["CertificateChain"])
    assert short_ca == ca and short_leaf.public_key() != leaf.public_key()
    short_leaf.verify_directly_issued_by(ca)
    assert 2 <= (short_leaf.not_valid_after_utc - NOW).days <= 3
    # Another account has a CA of its own.
    other = admin_api.account("team-b").id
    theirs = _ok(admin_api.call(admin_api.root_key(other), "CreateSigningProfile",
                                {"ProfileName": "release"}))["Profile"]
    their_ca = _certs(theirs["CertificateChain"])[1]
    assert their_ca != ca and _attribute(their_ca.subject, NameOID.ORGANIZATION_NAME) == [other]


def test_duplicates_bad_names_and_half_imports_are_refused(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    call = admin_api.call
    _ok(call(root, "CreateSigningProfile", {"ProfileName": "release"}))
    message = _error(call(root, "CreateSigningProfile", {"ProfileName": "release"}), 409,
                     "ConflictException")
    assert "release" in message
    for bad in ("a", "bad-name", "x" * 65, "with space"):
        message = _error(call(root, "CreateSigningProfile", {"ProfileName": bad}), 400,
                         "ValidationError")
        assert "not a valid profile name" in message
    for days in ("soon", "0", str(365 * 10 + 1)):
        _error(call(root, "CreateSigningProfile", {"ProfileName": "other",
                                                   "ValidityDays": days}), 400,
               "ValidationError")
    _error(call(root, "CreateSigningProfile", {"ProfileName": "other",
                                               "SignatureValidityDays": "-1"}), 400,
           "ValidationError")
    ca_key, ca_cert = _root()
    key, leaf = _leaf(ca_key, ca_cert)
    for half in ({"CertificateChain": _pem(leaf, ca_cert)}, {"PrivateKey": _key_pem(key)}):
        message = _error(call(root, "CreateSigningProfile", {"ProfileName": "half", **half}),
                         400, "ValidationError")
        assert "CertificateChain and PrivateKey" in message
    listed = _ok(call(root, "ListSigningProfiles", {}))["Profiles"]
    assert [p["ProfileName"] for p in listed] == ["release"]


# -- imported chains -------------------------------------------------------------------------
def test_an_imported_chain_is_kept_as_given(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    ca_key, ca_cert = _root()
    key, leaf = _leaf(ca_key, ca_cert)
    response = admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "imported", "CertificateChain": _pem(leaf, ca_cert),
        "PrivateKey": _key_pem(key)})
    made = _ok(response)["Profile"]
    assert made["Imported"] is True and made["Status"] == "Active"
    assert _certs(made["CertificateChain"]) == [leaf, ca_cert]
    assert "PRIVATE KEY" not in response.text
    got = _ok(admin_api.call(root, "GetSigningProfile", {"ProfileName": "imported"}))
    assert got["Profile"] == made


def _refused_chains():
    ca_key, ca_cert = _root()
    good_key, good = _leaf(ca_key, ca_cert)
    ca_leaf_key, ca_leaf = _leaf(ca_key, ca_cert, is_ca=True,
                                 usage=_usage(digital_signature=True, key_cert_sign=True))
    no_sig_key, no_sig = _leaf(ca_key, ca_cert, usage=_usage(key_encipherment=True))
    server_key, server = _leaf(ca_key, ca_cert, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    other_ca_key, other_ca = _root("Another Root CA")
    stranger_key, stranger = _leaf(other_ca_key, other_ca)
    other_key = ec.generate_private_key(ec.SECP256R1())
    return [
        ("leaf-is-ca", _pem(ca_leaf, ca_cert), ca_leaf_key, "is a CA certificate"),
        ("no-digital-signature", _pem(no_sig, ca_cert), no_sig_key,
         "key usage must be critical and digitalSignature only"),
        ("key-mismatch", _pem(good, ca_cert), other_key, "private key is not the key"),
        ("server-auth", _pem(server, ca_cert), server_key,
         "extended key usage may name codeSigning, not serverAuth"),
        ("wrong-issuer", _pem(stranger, ca_cert), stranger_key, "is not issued by"),
        ("not-pem", "not a certificate", good_key, "certificate chain"),
    ]


@pytest.mark.parametrize("case, chain, key, says", _refused_chains(),
                         ids=[c[0] for c in _refused_chains()])
def test_an_imported_chain_that_breaks_the_rules_is_refused(admin_api, case, chain, key, says):
    root = admin_api.root_key(admin_api.account("team-a").id)
    message = _error(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "imported", "CertificateChain": chain, "PrivateKey": _key_pem(key)}),
        400, "ValidationError")
    assert says in message
    assert _ok(admin_api.call(root, "ListSigningProfiles", {}))["Profiles"] == []


def _chains_notation_refuses():
    """Chains the Notary Project's certificate requirements (and notation-core-go's
    ValidateCodeSigningCertChain) refuse, but certificates.check_chain lets through."""
    ca_key, ca_cert = _root()
    cases = []
    key = ec.generate_private_key(ec.SECP256R1())
    loose = (x509.CertificateBuilder().subject_name(_name("Loose Usage"))
             .issuer_name(ca_cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
             .add_extension(_usage(digital_signature=True), False)   # keyUsage not critical
             .sign(ca_key, hashes.SHA256()))
    cases.append(("key-usage-not-critical", _pem(loose, ca_cert), key))
    key, leaf = _leaf(ca_key, ca_cert, usage=_usage(digital_signature=True,
                                                    key_encipherment=True))
    cases.append(("key-usage-not-digital-signature-only", _pem(leaf, ca_cert), key))
    key, leaf = _leaf(ca_key, ca_cert, eku=(ExtendedKeyUsageOID.CODE_SIGNING,
                                            ExtendedKeyUsageOID.SERVER_AUTH))
    cases.append(("eku-code-signing-and-server-auth", _pem(leaf, ca_cert), key))
    # An intermediate under a root of path length 0: the chain ends at it, or goes on to
    # the root (whose path length it exceeds).
    inter_key = ec.generate_private_key(ec.SECP256R1())
    strict_key = ec.generate_private_key(ec.SECP256R1())
    strict_name = _name("Strict Root CA")
    strict = (x509.CertificateBuilder().subject_name(strict_name).issuer_name(strict_name)
              .public_key(strict_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(NOW - DAY).not_valid_after(NOW + 365 * DAY)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
              .add_extension(_usage(key_cert_sign=True), True)
              .sign(strict_key, hashes.SHA256()))
    inter = (x509.CertificateBuilder().subject_name(_name("Intermediate CA"))
             .issuer_name(strict_name).public_key(inter_key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(NOW - DAY).not_valid_after(NOW + 365 * DAY)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
             .add_extension(_usage(key_cert_sign=True), True)
             .sign(strict_key, hashes.SHA256()))
    key, leaf = _leaf(inter_key, inter)
    cases.append(("chain-ends-at-an-intermediate", _pem(leaf, inter), key))
    cases.append(("path-length-exceeded", _pem(leaf, inter, strict), key))
    return cases


@pytest.mark.parametrize("case, chain, key", _chains_notation_refuses(),
                         ids=[c[0] for c in _chains_notation_refuses()])
def test_a_chain_notation_refuses_is_not_imported(admin_api, case, chain, key):
    root = admin_api.root_key(admin_api.account("team-a").id)
    _error(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "imported", "CertificateChain": chain, "PrivateKey": _key_pem(key)}),
        400, "ValidationError")


def test_an_unreadable_private_key_is_refused(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    ca_key, ca_cert = _root()
    _, leaf = _leaf(ca_key, ca_cert)
    message = _error(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "imported", "CertificateChain": _pem(leaf, ca_cert),
        "PrivateKey": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}),
        400, "ValidationError")
    assert "private key" in message


# -- list, get, revoke -----------------------------------------------------------------------
def test_list_get_and_revoke(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    made = {name: _ok(call(root, "CreateSigningProfile", {"ProfileName": name}))["Profile"]
            for name in ("alpha", "beta")}
    listed = _ok(call(root, "ListSigningProfiles", {}))["Profiles"]
    assert sorted(p["ProfileName"] for p in listed) == ["alpha", "beta"]
    assert all("CertificateChain" not in p for p in listed)
    assert {p["ProfileName"]: p["ProfileArn"] for p in listed} == {
        n: p["ProfileArn"] for n, p in made.items()}
    got = _ok(call(root, "GetSigningProfile", {"ProfileName": "alpha"}))["Profile"]
    assert got == made["alpha"]
    missing = _error(call(root, "GetSigningProfile", {"ProfileName": "gamma"}), 404,
                     "ResourceNotFoundException")
    assert "gamma" in missing
    _error(call(root, "RevokeSigningProfile", {"ProfileName": "gamma"}), 404,
           "ResourceNotFoundException")
    revoked = _ok(call(root, "RevokeSigningProfile", {"ProfileName": "alpha"}))["Profile"]
    assert revoked["Status"] == "Revoked" and revoked["ProfileName"] == "alpha"
    revoked_at = datetime.datetime.fromisoformat(revoked["RevokedAt"].replace("Z", "+00:00"))
    assert abs((revoked_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 60
    shown = _ok(call(root, "GetSigningProfile", {"ProfileName": "alpha"}))["Profile"]
    assert (shown["Status"], shown["RevokedAt"]) == ("Revoked", revoked["RevokedAt"])
    assert shown["CertificateChain"] == made["alpha"]["CertificateChain"]
    statuses = {p["ProfileName"]: p["Status"]
                for p in _ok(call(root, "ListSigningProfiles", {}))["Profiles"]}
    assert statuses == {"alpha": "Revoked", "beta": "Active"}
    # Revoking again changes nothing; the name stays taken.
    again = _ok(call(root, "RevokeSigningProfile", {"ProfileName": "alpha"}))["Profile"]
    assert again["RevokedAt"] == revoked["RevokedAt"]
    _error(call(root, "CreateSigningProfile", {"ProfileName": "alpha"}), 409,
           "ConflictException")


# -- GetSigningTrust -------------------------------------------------------------------------
def test_the_trust_names_the_ca_and_the_active_profiles(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    refused = _error(call(root, "GetSigningTrust", {}), 400, "ValidationError")
    assert "no signing profile to trust" in refused
    release = _ok(call(root, "CreateSigningProfile", {"ProfileName": "release"}))["Profile"]
    _ok(call(root, "CreateSigningProfile", {"ProfileName": "nightly"}))
    ca_key, ca_cert = _root()
    key, leaf = _leaf(ca_key, ca_cert)
    _ok(call(root, "CreateSigningProfile", {"ProfileName": "imported",
                                            "CertificateChain": _pem(leaf, ca_cert),
                                            "PrivateKey": _key_pem(key)}))
    account_ca = _certs(release["CertificateChain"])[1]

    trust = _ok(call(root, "GetSigningTrust", {}))
    assert trust["TrustStoreName"] == f"berth-{account}"
    assert _certs(trust["Certificates"]) == [account_ca, ca_cert]
    policies = trust_policy.parse(trust["TrustPolicy"])   # Notation's format, version 1.0
    [policy] = policies
    assert policy.trust_stores == (f"ca:berth-{account}",) and policy.level == "strict"
    [document] = trust["TrustPolicy"]["trustPolicies"]
    imported_identity = "x509.subject: C=DE, ST=Berlin, O=Example Org, CN=Example Signer"
    assert sorted(document["trustedIdentities"]) == sorted([
        _identity(account, "release"), _identity(account, "nightly"), imported_identity])
    assert policy.trusts(_certs(release["CertificateChain"])[0].subject)
    assert policy.trusts(leaf.subject)

    _ok(call(root, "RevokeSigningProfile", {"ProfileName": "nightly"}))
    _ok(call(root, "RevokeSigningProfile", {"ProfileName": "imported"}))
    after = _ok(call(root, "GetSigningTrust", {}))
    [document] = after["TrustPolicy"]["trustPolicies"]
    assert document["trustedIdentities"] == [_identity(account, "release")]
    assert not trust_policy.parse(after["TrustPolicy"])[0].trusts(leaf.subject)
    _ok(call(root, "RevokeSigningProfile", {"ProfileName": "release"}))
    refused = _error(call(root, "GetSigningTrust", {}), 400, "ValidationError")
    assert account in refused


def test_a_revoked_profile_is_not_trusted_through_a_namesake_in_another_region(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    east = _ok(call(root, "CreateSigningProfile", {"ProfileName": "release"}))["Profile"]
    west = _ok(call(root, "CreateSigningProfile", {"ProfileName": "release",
                                                   "Region": "eu-west-1"}))["Profile"]
    assert ":eu-west-1:" in west["ProfileArn"]
    _ok(call(root, "RevokeSigningProfile", {"ProfileName": "release"}))
    [policy] = trust_policy.parse(_ok(call(root, "GetSigningTrust", {}))["TrustPolicy"])
    assert policy.trusts(_certs(west["CertificateChain"])[0].subject)
    # A Notation verifier given this policy must refuse what the revoked profile signed.
    assert not policy.trusts(_certs(east["CertificateChain"])[0].subject)


# -- who may -----------------------------------------------------------------------------------
def test_another_account_cannot_act_on_the_accounts_profiles(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    _ok(admin_api.call(root, "CreateSigningProfile", {"ProfileName": "release"}))
    stranger = admin_api.root_key(admin_api.account("team-b").id)
    for operation, params in (
            ("CreateSigningProfile", {"ProfileName": "intruder"}),
            ("ListSigningProfiles", {}),
            ("GetSigningProfile", {"ProfileName": "release"}),
            ("RevokeSigningProfile", {"ProfileName": "release"}),
            ("GetSigningTrust", {})):
        denied = admin_api.call(stranger, operation, {"AccountId": account, **params})
        message = _error(denied, 400, "AccessDeniedException")
        assert f"arn:aws:iam::{account}:root" in message, operation
    assert [(p["ProfileName"], p["Status"]) for p in _ok(admin_api.call(
        root, "ListSigningProfiles", {}))["Profiles"]] == [("release", "Active")]
    # Its own account shows nothing of the other's.
    assert _ok(admin_api.call(stranger, "ListSigningProfiles", {}))["Profiles"] == []


def test_a_user_needs_the_signer_action(admin_api):
    account = admin_api.account("team-a").id
    plain = admin_api.user_key(account, "plain")
    denied = admin_api.call(plain, "CreateSigningProfile", {"ProfileName": "release"})
    assert "signer:PutSigningProfile" in _error(denied, 400, "AccessDeniedException")
    allowed = admin_api.user_key(account, "signer", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "signer:*", "Resource": "*"}]}))
    _ok(admin_api.call(allowed, "CreateSigningProfile", {"ProfileName": "release"}))


# -- VerifyImageSignatures ---------------------------------------------------------------------
POLICY = {"version": "1.0", "trustPolicies": [{
    "name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
    "trustStores": ["ca:anything"], "trustedIdentities": ["*"]}]}


@pytest.fixture
def registry(admin_api, tmp_path):
    """The default registry (the administrator's) over the admin API's data directory, served
    to its storage operations as the server wires it."""
    found, _ = open_registry(Settings(data_dir=tmp_path))
    pushes_create(found.db, found.registry_id)
    admin_api.client.app.state.registry = found
    try:
        yield found
    finally:
        found.close()


def _sign_pending(registry) -> int:
    return sign_pending(registry)


def test_verifying_is_for_the_administrator_only(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    denied = admin_api.call(root, "VerifyImageSignatures", {
        "RepositoryName": "app", "ImageTag": "v1", "TrustPolicy": json.dumps(POLICY)})
    message = _error(denied, 400, "AccessDeniedException")
    assert "signer:VerifyImageSignatures" in message


def test_unknown_repositories_images_and_malformed_policies(admin_api, admin_root, registry):
    call = admin_api.call
    unknown = call(admin_root, "VerifyImageSignatures", {
        "RepositoryName": "nowhere/app", "ImageTag": "v1", "TrustPolicy": json.dumps(POLICY)})
    assert "nowhere/app" in _error(unknown, 400, "RepositoryNotFoundException")
    push_image(registry, "known/app", "v1", b"a layer")
    image = call(admin_root, "VerifyImageSignatures", {
        "RepositoryName": "known/app", "ImageTag": "v9", "TrustPolicy": json.dumps(POLICY)})
    _error(image, 400, "ImageNotFoundException")
    for policy, says in (({**POLICY, "version": "2.0"}, '"version": "1.0"'),
                         ({"version": "1.0", "trustPolicies": []}, "trustPolicies"),
                         ({"version": "1.0", "trustPolicies": [{
                             **POLICY["trustPolicies"][0], "trustedIdentities": [
                                 "x509.subject: CN=only"]}]}, "at least C, ST and O")):
        malformed = call(admin_root, "VerifyImageSignatures", {
            "RepositoryName": "known/app", "ImageTag": "v1", "TrustPolicy": json.dumps(policy)})
        assert says in _error(malformed, 400, "ValidationError")
    not_json = call(admin_root, "VerifyImageSignatures", {
        "RepositoryName": "known/app", "ImageTag": "v1", "TrustPolicy": "{"})
    _error(not_json, 400, "ValidationError")
    stores = call(admin_root, "VerifyImageSignatures", {
        "RepositoryName": "known/app", "ImageTag": "v1", "TrustPolicy": json.dumps(POLICY),
        "TrustStores": json.dumps(["not", "an", "object"])})
    assert "TrustStores" in _error(stores, 400, "ValidationError")
    neither = call(admin_root, "VerifyImageSignatures", {
        "RepositoryName": "known/app", "TrustPolicy": json.dumps(POLICY)})
    _error(neither, 400, "ValidationError")


def test_a_signed_image_verifies_until_its_profile_is_revoked(admin_api, admin_account,
                                                              admin_root, registry):
    call = admin_api.call
    profile = _ok(call(admin_root, "CreateSigningProfile", {"ProfileName": "release"}))[
        "Profile"]
    SigningConfigurations(registry.db, registry.registry_id).put([{
        "signingProfileArn": profile["ProfileArn"],
        "repositoryFilters": [{"filter": "signed/*", "filterType": "WILDCARD_MATCH"}]}])
    _sign_pending(registry)  # the signing subscriber starts here
    signed = push_image(registry, "signed/app", "v1", b"signed layer")
    push_image(registry, "plain/app", "v1", b"unsigned layer")
    assert _sign_pending(registry) == 1
    trust = _ok(call(admin_root, "GetSigningTrust", {}))
    policy = json.dumps(trust["TrustPolicy"])

    def verdict(repository: str, **more) -> dict:
        return _ok(call(admin_root, "VerifyImageSignatures", {
            "RepositoryName": repository, "TrustPolicy": policy, **more}))["Verdict"]

    found = verdict("signed/app", ImageTag="v1")
    assert found["verified"] is True and found["digest"] == str(signed), found
    [signature] = found["signatures"]
    assert signature["verified"] is True and signature["format"] == "notary"
    assert f"O={admin_account.id}" in signature["signer"] and "CN=release" in signature["signer"]
    assert verdict("signed/app", ImageDigest=str(signed))["verified"] is True
    plain = verdict("plain/app", ImageTag="v1")
    assert plain["verified"] is False and plain["signatures"] == []
    assert plain["reason"] == "the image has no signature"
    # A policy that trusts another identity only refuses the signature (authenticity).
    other = {**trust["TrustPolicy"], "trustPolicies": [{
        **trust["TrustPolicy"]["trustPolicies"][0],
        "trustedIdentities": [_identity(admin_account.id, "someone_else")]}]}
    refused = verdict("signed/app", ImageTag="v1", TrustPolicy=json.dumps(other))
    assert refused["verified"] is False
    assert refused["signatures"][0]["failure"].startswith("authenticity")
    # Revoked: Berth refuses what the profile signed, even under the policy exported before.
    _ok(call(admin_root, "RevokeSigningProfile", {"ProfileName": "release"}))
    revoked = verdict("signed/app", ImageTag="v1")
    assert revoked["verified"] is False
    assert revoked["signatures"][0]["failure"].startswith("revocation"), revoked


# -- rotate, disable, enable -----------------------------------------------------------------
def test_rotation_gives_a_new_key_under_the_same_identity(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    before = _ok(call(root, "CreateSigningProfile", {"ProfileName": "release"}))["Profile"]
    after = _ok(call(root, "RotateSigningProfile", {"ProfileName": "release"}))["Profile"]
    old, new = _certs(before["CertificateChain"]), _certs(after["CertificateChain"])
    assert old[0].subject == new[0].subject and old[1] == new[1]  # same identity, same CA
    assert old[0].public_key().public_numbers() != new[0].public_key().public_numbers()
    assert after["ProfileArn"] == before["ProfileArn"] and after["Status"] == "Active"
    [policy] = trust_policy.parse(_ok(call(root, "GetSigningTrust", {}))["TrustPolicy"])
    assert policy.trusts(old[0].subject) and policy.trusts(new[0].subject)


def test_an_imported_or_revoked_profile_is_not_rotated(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    ca_key, ca_cert = _root()
    key, leaf = _leaf(ca_key, ca_cert)
    _ok(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "imported", "CertificateChain": _pem(leaf, ca_cert),
        "PrivateKey": _key_pem(key)}))
    assert "import its new chain" in _error(admin_api.call(
        root, "RotateSigningProfile", {"ProfileName": "imported"}), 400, "ValidationError")
    _ok(admin_api.call(root, "CreateSigningProfile", {"ProfileName": "gone"}))
    _ok(admin_api.call(root, "RevokeSigningProfile", {"ProfileName": "gone"}))
    for operation in ("RotateSigningProfile", "EnableSigningProfile", "DisableSigningProfile"):
        assert "is revoked" in _error(admin_api.call(root, operation, {"ProfileName": "gone"}),
                                      400, "ValidationError")


def test_a_disabled_profile_stays_trusted_and_can_be_enabled(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    _ok(call(root, "CreateSigningProfile", {"ProfileName": "paused"}))
    disabled = _ok(call(root, "DisableSigningProfile", {"ProfileName": "paused"}))["Profile"]
    assert disabled["Status"] == "Disabled"
    [document] = _ok(call(root, "GetSigningTrust", {}))["TrustPolicy"]["trustPolicies"]
    assert document["trustedIdentities"] == [_identity(account, "paused")]
    enabled = _ok(call(root, "EnableSigningProfile", {"ProfileName": "paused"}))["Profile"]
    assert enabled["Status"] == "Active"
    revoked = _ok(call(root, "RevokeSigningProfile", {"ProfileName": "paused"}))["Profile"]
    assert revoked["Status"] == "Revoked"


def test_an_import_whose_subject_overlaps_another_profile_is_refused(admin_api):
    """Notation matches identities as subsets: an imported leaf named C/ST/O only would be
    trusted by (and trust) a profile whose subject adds a CN -- revoking one would not stop
    the other's identity matching it."""
    root = admin_api.root_key(admin_api.account("team-a").id)
    ca_key, ca_cert = _root()
    key, leaf = _leaf(ca_key, ca_cert)
    _ok(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "first", "CertificateChain": _pem(leaf, ca_cert),
        "PrivateKey": _key_pem(key)}))
    again_key, again = _leaf(ca_key, ca_cert)  # the same subject, another key
    message = _error(admin_api.call(root, "CreateSigningProfile", {
        "ProfileName": "second", "CertificateChain": _pem(again, ca_cert),
        "PrivateKey": _key_pem(again_key)}), 400, "ValidationError")
    assert "subject" in message
