"""Berth's verifier (berth/signing/verification.py) on signatures made here: a good one
passes; each kind of tampering is refused by the check the Notary Project's workflow names
(a changed manifest, a signature moved to another digest, a changed envelope, an unknown
critical header, an algorithm the key does not imply, a certificate from another CA, an
identity the policy does not trust, an expired signature, a revoked profile); the levels
turn enforced checks into logged ones as the specification's table says."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from berth.signing import certificates, envelope, trust_policy, verification

NOW = datetime.datetime.now(datetime.timezone.utc)
ACCOUNT = "123456789012"
IMAGE = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
OTHER = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":1}'


def _subject(body: bytes) -> dict:
    return envelope.descriptor("application/vnd.oci.image.manifest.v1+json", body)


@pytest.fixture(scope="module")
def ca():
    return certificates.make_ca(ACCOUNT, NOW)


@pytest.fixture(scope="module")
def profile(ca):
    key, leaf = certificates.issue(*ca, ACCOUNT, "release", NOW, 30)
    return key, [leaf, ca[1]]


def _sign(profile, subject=None, expiry=None, signing_time=NOW):
    key, chain = profile
    subject = subject or _subject(IMAGE)
    body = envelope.sign(subject, key, chain, signing_time, expiry, "test")
    return envelope.signature_manifest(subject, body, chain, signing_time), body


def _policy(level="strict", identities=("*",), store="ca:berth", override=None):
    verification_ = {"level": level, **({"override": override} if override else {})}
    return trust_policy.parse({"version": "1.0", "trustPolicies": [{
        "name": "p", "registryScopes": ["*"], "signatureVerification": verification_,
        "trustStores": [store], "trustedIdentities": list(identities)}]})[0]


def _trust(ca, revoked=()):
    return verification.Trust({"ca:berth": [ca[1]]}, frozenset(revoked))


def _check(policy, trust, manifest, body, subject=None):
    return verification.verify(policy, trust, subject or _subject(IMAGE), "sha256:sig",
                               manifest, body, NOW)


def test_a_good_signature_passes(ca, profile):
    result = _check(_policy(), _trust(ca), *_sign(profile))
    assert result.verified, result
    assert result.signer == f"CN=release,O={ACCOUNT},ST=Berth,C=US"
    assert result.signing_time == envelope.rfc3339(NOW)


def test_a_changed_manifest_is_refused(ca, profile):
    """The image's manifest changed by a byte: its digest is not the one signed."""
    manifest, body = _sign(profile)
    result = _check(_policy(), _trust(ca), manifest, body, subject=_subject(OTHER))
    assert not result.verified and result.failure.startswith("integrity:")


def test_a_signature_moved_to_another_digest_is_refused(ca, profile):
    """The signature manifest re-pointed at another image (its subject rewritten): the
    envelope still signs the first one."""
    manifest, body = _sign(profile)
    moved = json.loads(manifest)
    moved["subject"] = _subject(OTHER)
    result = _check(_policy(), _trust(ca), json.dumps(moved).encode(), body,
                    subject=_subject(OTHER))
    assert not result.verified
    assert result.failure == ("integrity: the signature signs another artifact (digest, size "
                              "or media type differ)")


def test_a_changed_envelope_is_refused(ca, profile):
    manifest, body = _sign(profile)
    sealed = json.loads(body)
    payload = json.loads(base64.urlsafe_b64decode(sealed["payload"] + "=="))
    payload["targetArtifact"]["size"] += 1
    sealed["payload"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip(
        "=")
    tampered = json.dumps(sealed).encode()
    relinked = manifest.replace(
        envelope.descriptor("", body)["digest"].encode(),
        envelope.descriptor("", tampered)["digest"].encode()).replace(
        f'"size":{len(body)}'.encode(), f'"size":{len(tampered)}'.encode())
    result = _check(_policy(), _trust(ca), relinked, tampered)
    assert result.failure == "integrity: the signature does not match the signed content"
    # Without relinking, the manifest names another blob.
    assert "not the blob" in _check(_policy(), _trust(ca), manifest, tampered).failure


def _resigned(profile, header: dict) -> tuple[bytes, bytes]:
    """A signature whose protected header is ``header`` (signed properly)."""
    key, chain = profile
    subject = _subject(IMAGE)
    payload = json.dumps({"targetArtifact": subject}).encode()
    compact = jwt.PyJWS().encode(payload, key, algorithm="ES256",
                                 headers={"typ": None, **header})
    protected, payload_b64, signature = compact.split(".")
    x5c = [base64.b64encode(c.public_bytes(certificates.serialization.Encoding.DER)).decode()
           for c in chain]
    body = json.dumps({"payload": payload_b64, "protected": protected,
                       "header": {"x5c": x5c}, "signature": signature}).encode()
    return envelope.signature_manifest(subject, body, chain, NOW), body


GOOD_HEADER = {"cty": envelope.PAYLOAD_TYPE, envelope.SCHEME: "notary.x509",
               envelope.SIGNING_TIME: envelope.rfc3339(NOW), "crit": [envelope.SCHEME]}


@pytest.mark.parametrize("change, says", [
    ({"crit": [envelope.SCHEME, "io.cncf.notary.verificationPlugin"],
      "io.cncf.notary.verificationPlugin": "com.example.plugin"}, "not understood"),
    ({"crit": []}, "signing scheme must be a critical header"),
    ({"cty": "application/json"}, "content type"),
    ({envelope.EXPIRY: envelope.rfc3339(NOW + datetime.timedelta(days=1))},
     "expiry must be a critical header"),
    ({"crit": [envelope.SCHEME, ["nested"]]}, "signing scheme must be a critical header"),
    ({"crit": [envelope.SCHEME, envelope.EXPIRY], envelope.EXPIRY: "2030-01-01T00:00:00"},
     "expiry is not an RFC 3339 time"),
    ({envelope.SIGNING_TIME: 1700000000}, "signing time is not an RFC 3339 time"),
    ({"crit": [envelope.SCHEME, "io.cncf.notary.authenticSigningTime"],
      "io.cncf.notary.authenticSigningTime": envelope.rfc3339(NOW)}, "not understood"),
])
def test_headers_the_specification_refuses(ca, profile, change, says):
    result = _check(_policy(), _trust(ca), *_resigned(profile, {**GOOD_HEADER, **change}))
    assert not result.verified and says in result.failure
    assert result.failure.startswith("integrity:")


def test_the_algorithm_must_be_the_one_the_key_implies(ca, profile):
    """ES384 claimed over a P-256 key (signed with SHA-384, so the signature itself holds):
    the algorithm is what the certificate's key implies, never what the header says."""
    key, chain = profile
    manifest, body = _sign(profile)
    sealed = json.loads(body)
    header = {**GOOD_HEADER, "alg": "ES384"}
    sealed["protected"] = _b64(json.dumps(header).encode())
    der = key.sign(f"{sealed['protected']}.{sealed['payload']}".encode(),
                   ec.ECDSA(hashes.SHA384()))
    r, s_ = decode_dss_signature(der)
    sealed["signature"] = _b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    tampered = json.dumps(sealed).encode()
    relinked = envelope.signature_manifest(_subject(IMAGE), tampered, chain, NOW)
    result = _check(_policy(), _trust(ca), relinked, tampered)
    assert result.failure.startswith("integrity: the algorithm ES384 is not ES256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_certificate_from_another_ca_is_refused(ca, profile):
    other_ca = certificates.make_ca("210987654321", NOW)
    foreign = certificates.issue(*other_ca, "210987654321", "release", NOW, 30)
    result = _check(_policy(), _trust(ca), *_sign((foreign[0], [foreign[1], other_ca[1]])))
    assert result.failure.startswith("authenticity: no certificate of the chain is in")


def test_only_trusted_identities_pass(ca, profile):
    trusted = f"x509.subject: C=US, ST=Berth, O={ACCOUNT}, CN=release"
    assert _check(_policy(identities=[trusted]), _trust(ca), *_sign(profile)).verified
    other = f"x509.subject: C=US, ST=Berth, O={ACCOUNT}, CN=nightly"
    result = _check(_policy(identities=[other]), _trust(ca), *_sign(profile))
    assert "not a trusted identity" in result.failure


def test_an_expired_signature_is_refused_unless_the_level_only_logs(ca, profile):
    signed = _sign(profile, expiry=NOW - datetime.timedelta(minutes=1),
                   signing_time=NOW - datetime.timedelta(days=2))
    strict = _check(_policy(), _trust(ca), *signed)
    assert strict.failure.startswith("expiry: the signature expired at")
    permissive = _check(_policy("permissive"), _trust(ca), *signed)
    assert permissive.verified and permissive.logged[0].startswith("expiry:")
    overridden = _check(_policy(override={"expiry": "log"}), _trust(ca), *signed)
    assert overridden.verified


def test_a_revoked_profile_is_refused(ca, profile):
    leaf = profile[1][0]
    result = _check(_policy(), _trust(ca, revoked=[verification.revocation_key(leaf)]),
                    *_sign(profile))
    assert result.failure == "revocation: the signing profile that made it is revoked"
    skipped = _check(_policy(override={"revocation": "skip"}),
                     _trust(ca, revoked=[verification.revocation_key(leaf)]), *_sign(profile))
    assert skipped.verified and skipped.logged == []


def test_only_ca_stores_anchor_notary_x509_signatures(ca, profile):
    """A signing authority's store serves notary.x509.signingAuthority signatures: naming the
    CA there does not make a notary.x509 signature trusted (as Notation)."""
    policy = _policy(store="signingAuthority:berth")
    trust = verification.Trust({"signingAuthority:berth": [ca[1]]})
    result = _check(policy, trust, *_sign(profile))
    assert result.failure.startswith("authenticity: no certificate of the chain")


def test_audit_logs_authenticity_but_enforces_integrity(ca, profile):
    other_ca = certificates.make_ca("210987654321", NOW)
    audit = _policy("audit")
    untrusted = _check(audit, verification.Trust({"ca:berth": [other_ca[1]]}),
                       *_sign(profile))
    assert untrusted.verified and untrusted.logged[0].startswith("authenticity:")
    manifest, body = _sign(profile)
    assert not _check(audit, _trust(ca), manifest, body, subject=_subject(OTHER)).verified


def test_the_thumbprints_annotation_names_the_chain(profile):
    manifest, _ = _sign(profile)
    annotation = json.loads(json.loads(manifest)["annotations"][envelope.THUMBPRINTS])
    from cryptography.hazmat.primitives.serialization import Encoding
    assert annotation == [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest()
                          for c in profile[1]]
