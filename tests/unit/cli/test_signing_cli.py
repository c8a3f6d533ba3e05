"""``berth admin signing-profiles`` and ``berth verify`` offline, in process against a
temporary data directory: profiles made, listed, shown, revoked; export-trust writing
Notation's trust store folder and trust policy; verify's exit statuses (0 verified, 1 not,
2 could not be checked) on images signed by managed signing or not signed at all; and the
parsing of image references and trust store folders."""
from __future__ import annotations

import datetime

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from berth.app import open_registry
from berth.cli.main import main
from berth.cli.signing import read_store, split_image
from berth.config import Settings
from berth.signing import certificates, trust_policy
from berth.signing.configuration import SigningConfigurations
from tests.support.registry_images import push_image
from tests.support.signing_jobs import sign_pending
from tests.support.repositories import pushes_create

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def berth(data, capsys):
    """Runs ``berth ARGS --data-dir DATA``: (status, stdout, stderr)."""
    def run_(*args: str):
        status = main([*args, "--data-dir", str(data)])
        out, err = capsys.readouterr()
        return status, out, err
    return run_


def ok(berth, *args: str) -> dict:
    status, out, err = berth("admin", *args)
    assert status == 0, err
    return json.loads(out)


@pytest.fixture
def account(berth) -> str:
    """The administrator's account: its registry is the default one, where images go."""
    accounts = ok(berth, "accounts", "list")["Accounts"]
    [admin] = [a for a in accounts if a["IsAdmin"]]
    return admin["AccountId"]


# -- signing-profiles ------------------------------------------------------------------------
def test_create_list_get_revoke(berth, account):
    made = ok(berth, "signing-profiles", "create", "--account", account, "release",
              "--validity-days", "10", "--signature-validity-days", "2")["Profile"]
    assert made["ProfileName"] == "release" and made["Status"] == "Active"
    assert made["ProfileArn"].endswith(f":{account}:/signing-profiles/release")
    assert made["SignatureValidityDays"] == 2 and made["Imported"] is False
    leaf, ca = x509.load_pem_x509_certificates(made["CertificateChain"].encode())
    leaf.verify_directly_issued_by(ca)
    assert [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [
        "release"]
    assert 9 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 10
    ok(berth, "signing-profiles", "create", "--account", account, "nightly")
    listed = ok(berth, "signing-profiles", "list", "--account", account)["Profiles"]
    assert sorted(p["ProfileName"] for p in listed) == ["nightly", "release"]
    got = ok(berth, "signing-profiles", "get", "--account", account, "release")["Profile"]
    assert got == made
    revoked = ok(berth, "signing-profiles", "revoke", "--account", account, "release")
    assert revoked["Profile"]["Status"] == "Revoked" and "RevokedAt" in revoked["Profile"]
    statuses = {p["ProfileName"]: p["Status"] for p in ok(
        berth, "signing-profiles", "list", "--account", account)["Profiles"]}
    assert statuses == {"release": "Revoked", "nightly": "Active"}


def test_refusals_exit_1_with_the_error_on_stderr(berth, account):
    ok(berth, "signing-profiles", "create", "--account", account, "release")
    status, out, err = berth("admin", "signing-profiles", "create", "--account", account,
                             "release")
    assert (status, out) == (1, "") and "ConflictException" in err
    status, _, err = berth("admin", "signing-profiles", "create", "--account", account,
                           "bad-name")
    assert status == 1 and "ValidationError" in err
    status, _, err = berth("admin", "signing-profiles", "get", "--account", account, "nope")
    assert status == 1 and "ResourceNotFoundException" in err


def test_an_imported_chain_needs_its_key_file(berth, account, tmp_path):
    made = ok(berth, "signing-profiles", "create", "--account", account, "release")
    chain = tmp_path / "chain.pem"
    chain.write_text(made["Profile"]["CertificateChain"])
    status, _, err = berth("admin", "signing-profiles", "create", "--account", account,
                           "copy", "--certificate-chain", str(chain))
    assert status == 1 and "CertificateChain and PrivateKey" in err
    status, _, err = berth("admin", "signing-profiles", "create", "--account", account,
                           "copy", "--certificate-chain", str(chain), "--private-key",
                           str(tmp_path / "missing.pem"))
    assert status == 1 and "missing.pem" in err


def test_export_trust_writes_notations_files(berth, account, tmp_path):
    release = ok(berth, "signing-profiles", "create", "--account", account, "release")
    ok(berth, "signing-profiles", "create", "--account", account, "revoked_one")
    ok(berth, "signing-profiles", "revoke", "--account", account, "revoked_one")
    out_dir = tmp_path / "notation"
    written = ok(berth, "signing-profiles", "export-trust", "--account", account,
                 "--output", str(out_dir))
    store = out_dir / "trust-store" / "x509" / "ca" / f"berth-{account}"
    pem = store / f"berth-{account}.pem"
    assert written == {"TrustStore": str(store),
                       "TrustPolicy": str(out_dir / "trustpolicy.oci.json")}
    ca = x509.load_pem_x509_certificates(release["Profile"]["CertificateChain"].encode())[1]
    assert x509.load_pem_x509_certificates(pem.read_bytes()) == [ca]
    document = (out_dir / "trustpolicy.oci.json").read_text()
    [policy] = trust_policy.parse(document)
    assert policy.trust_stores == (f"ca:berth-{account}",)
    assert json.loads(document)["trustPolicies"][0]["trustedIdentities"] == [
        f"x509.subject: C=US, ST=Berth, L=us-east-1, O={account}, CN=release"]
    # read_store reads it back under the name the policy uses.
    assert read_store(str(out_dir / "trust-store")) == {
        f"ca:berth-{account}": pem.read_text()}
    # Without --output: the JSON document itself.
    shown = ok(berth, "signing-profiles", "export-trust", "--account", account)
    assert shown["TrustStoreName"] == f"berth-{account}"
    assert shown["TrustPolicy"] == json.loads(document)


def test_export_trust_without_an_active_profile_fails(berth, account, tmp_path):
    status, _, err = berth("admin", "signing-profiles", "export-trust", "--account", account,
                           "--output", str(tmp_path / "out"))
    assert status == 1 and "ValidationError" in err
    assert not (tmp_path / "out").exists()


# -- berth verify: what cannot be checked ----------------------------------------------------
def _policy_file(tmp_path) -> str:
    path = tmp_path / "trustpolicy.oci.json"
    path.write_text(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:anything"], "trustedIdentities": ["*"]}]}))
    return str(path)


def test_verify_exits_2_without_a_policy_or_an_account(berth):
    status, out, err = berth("verify", "app:v1")
    assert (status, out) == (2, "")
    assert "--trust-policy" in err and "--account" in err


def test_verify_exits_2_for_an_unknown_repository(berth, account, tmp_path):
    status, out, err = berth("verify", "nowhere/app:v1", "--trust-policy",
                             _policy_file(tmp_path))
    assert (status, out) == (2, "") and "RepositoryNotFoundException" in err
    ok(berth, "signing-profiles", "create", "--account", account, "release")
    status, out, err = berth("verify", "nowhere/app:v1", "--account", account)
    assert (status, out) == (2, "") and "RepositoryNotFoundException" in err


def test_verify_exits_2_for_a_malformed_policy_or_a_missing_file(berth, account, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "2.0", "trustPolicies": []}))
    status, _, err = berth("verify", "app:v1", "--trust-policy", str(bad))
    assert status == 2 and "ValidationError" in err
    status, _, err = berth("verify", "app:v1", "--trust-policy", str(tmp_path / "none.json"))
    assert status == 2 and "none.json" in err


# -- berth verify on images signed offline ---------------------------------------------------
def _sign_pending(registry) -> int:
    return sign_pending(registry)


@pytest.fixture
def images(berth, account, data):
    """signed/app:v1 signed by managed signing with the profile 'release', plain/app:v1
    not signed; their digests."""
    arn = ok(berth, "signing-profiles", "create", "--account", account, "release")[
        "Profile"]["ProfileArn"]
    registry, _ = open_registry(Settings(data_dir=data))
    try:
        pushes_create(registry.db, registry.registry_id)
        SigningConfigurations(registry.db, registry.registry_id).put([{
            "signingProfileArn": arn,
            "repositoryFilters": [{"filter": "signed/*", "filterType": "WILDCARD_MATCH"}]}])
        _sign_pending(registry)  # the signing subscriber starts here
        signed = push_image(registry, "signed/app", "v1", b"a signed layer")
        plain = push_image(registry, "plain/app", "v1", b"an unsigned layer")
        assert _sign_pending(registry) == 1
    finally:
        registry.close()
    return {"signed": str(signed), "plain": str(plain)}


def _verdict(out: str) -> dict:
    return json.loads(out)


def test_verify_a_signed_image_with_the_accounts_trust(berth, account, images):
    status, out, err = berth("verify", "localhost:5000/signed/app:v1", "--account", account)
    assert status == 0, err
    verdict = _verdict(out)
    assert verdict["verified"] is True and verdict["digest"] == images["signed"]
    assert verdict["repository"] == "signed/app"
    assert [s["verified"] for s in verdict["signatures"]] == [True]
    assert "verified:" in err
    status, out, _ = berth("verify", f"signed/app@{images['signed']}", "--account", account)
    assert status == 0 and _verdict(out)["verified"] is True


def test_verify_an_unsigned_image_exits_1(berth, account, images):
    status, out, err = berth("verify", "plain/app:v1", "--account", account)
    assert status == 1
    verdict = _verdict(out)
    assert verdict["verified"] is False and verdict["digest"] == images["plain"]
    assert verdict["reason"] == "the image has no signature"
    assert "NOT verified" in err


def test_verify_with_exported_files_and_after_revocation(berth, account, images, tmp_path):
    out_dir = tmp_path / "notation"
    ok(berth, "signing-profiles", "export-trust", "--account", account, "--output",
       str(out_dir))
    policy = str(out_dir / "trustpolicy.oci.json")
    store = str(out_dir / "trust-store")
    status, out, err = berth("verify", "signed/app:v1", "--trust-policy", policy,
                             "--trust-store", store)
    assert status == 0, err
    status, _, _ = berth("verify", "plain/app:v1", "--trust-policy", policy,
                         "--trust-store", store)
    assert status == 1
    # A policy trusting some other identity only: the signature is refused.
    other = json.loads((out_dir / "trustpolicy.oci.json").read_text())
    other["trustPolicies"][0]["trustedIdentities"] = [
        f"x509.subject: C=US, ST=Berth, O={account}, CN=someone_else"]
    other_path = tmp_path / "other.json"
    other_path.write_text(json.dumps(other))
    status, out, _ = berth("verify", "signed/app:v1", "--trust-policy", str(other_path))
    assert status == 1
    assert _verdict(out)["signatures"][0]["failure"].startswith("authenticity")
    # Revoked: refused under the policy exported before; the account has nothing to trust.
    ok(berth, "signing-profiles", "revoke", "--account", account, "release")
    status, out, _ = berth("verify", "signed/app:v1", "--trust-policy", policy)
    assert status == 1
    assert _verdict(out)["signatures"][0]["failure"].startswith("revocation")
    status, out, err = berth("verify", "signed/app:v1", "--account", account)
    assert (status, out) == (2, "") and "no signing profile to trust" in err


# -- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("localhost:5000/a/b:v1", ("localhost:5000", "a/b", "v1")),
    ("localhost/a/b", ("localhost", "a/b", "latest")),
    (f"registry.example/a@{DIGEST}", ("registry.example", "a", DIGEST)),
    (f"registry.example:443/team/app@{DIGEST}", ("registry.example:443", "team/app", DIGEST)),
    ("a/b", (None, "a/b", "latest")),
    ("a/b:v1", (None, "a/b", "v1")),
    ("app", (None, "app", "latest")),
    ("app:1.0", (None, "app", "1.0")),
    (f"a/b@{DIGEST}", (None, "a/b", DIGEST)),
    ("team/sub/app:v2", (None, "team/sub/app", "v2")),
])
def test_split_image(text, expected):
    assert split_image(text) == expected


def test_split_image_with_a_tag_and_a_digest():
    assert split_image(f"registry.example/a/b:v1@{DIGEST}") == (
        "registry.example", "a/b", DIGEST)


def test_read_store(tmp_path):
    """PEM and DER files of a Notation trust store, by type and name; other types, other
    suffixes and empty folders left out; a symbolic link refused, as Notation refuses it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    a, b, c = (certificates.make_ca(f"00000000000{n}", now)[1] for n in range(3))
    root = tmp_path / "trust-store"
    (root / "x509" / "ca" / "one").mkdir(parents=True)
    (root / "x509" / "ca" / "one" / "a.pem").write_text(certificates.pem([a]))
    (root / "x509" / "ca" / "one" / "b.cer").write_bytes(b.public_bytes(Encoding.DER))
    (root / "x509" / "ca" / "one" / "notes.txt").write_text("not a certificate")
    (root / "x509" / "ca" / "empty").mkdir()
    (root / "x509" / "signingAuthority" / "two").mkdir(parents=True)
    (root / "x509" / "signingAuthority" / "two" / "c.crt").write_text(certificates.pem([c]))
    (root / "x509" / "tsa" / "three").mkdir(parents=True)
    (root / "x509" / "tsa" / "three" / "d.pem").write_text(certificates.pem([c]))
    found = read_store(str(root))
    assert set(found) == {"ca:one", "signingAuthority:two"}
    assert certificates.load_chain(found["ca:one"]) == [a, b]
    assert certificates.load_chain(found["signingAuthority:two"]) == [c]
    assert read_store(str(root / "x509")) == found  # the folder below works too
    assert read_store(str(tmp_path / "nothing")) == {}
    (root / "x509" / "ca" / "one" / "link.pem").symlink_to(root / "x509" / "ca" / "one" /
                                                           "a.pem")
    with pytest.raises(ValueError, match="symbolic link"):
        read_store(str(root))
