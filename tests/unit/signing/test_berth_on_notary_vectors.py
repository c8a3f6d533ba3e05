"""Berth's own verifier (berth/signing/verification.py) on the Notary Project's published
signatures (notation-go's test vectors, tests/data/notary/NOTICE): what Notation accepts,
Berth accepts; the expired, the tampered and the plugin-bound ones are refused by the check
the workflow names. Each envelope is carried in a signature manifest as a registry stores it
(berth/signing/envelope.signature_manifest)."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509

from berth.signing import envelope, trust_policy, verification

DATA = Path(__file__).parents[2] / "data" / "notary"
ALPINE_BLOB = "19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
SAMPLE = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "digest": "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e",
          "size": 528}
NOTATION_IDENTITY = "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=Notation Test Root"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def _chain(body: bytes) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(c))
            for c in json.loads(body)["header"]["x5c"]]


def _alpine() -> tuple[dict, bytes]:
    blob = (DATA / ALPINE_BLOB).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == ALPINE_BLOB
    return ({"mediaType": json.loads(blob)["mediaType"], "digest": f"sha256:{ALPINE_BLOB}",
             "size": len(blob)}, (DATA / "jws_signature.sig").read_bytes())


def _verify(subject: dict, body: bytes, roots: list, identity: str = "*",
            level: str = "strict"):
    policy = trust_policy.parse({"version": "1.0", "trustPolicies": [{
        "name": "vectors", "registryScopes": ["*"], "signatureVerification": {"level": level},
        "trustStores": ["ca:vectors"], "trustedIdentities": [identity]}]})[0]
    manifest = envelope.signature_manifest(subject, body, _chain(body), NOW)
    return verification.verify(policy, verification.Trust({"ca:vectors": roots}), subject,
                               "sha256:vector", manifest, body, NOW)


def _notation_root() -> list:
    return x509.load_pem_x509_certificates((DATA / "NotationTestRoot.pem").read_bytes())


def test_notations_self_signed_alpine_signature_passes():
    subject, body = _alpine()
    result = _verify(subject, body, [_chain(body)[0]],
                     "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=alpine")
    assert result.verified, result


def test_notations_ca_signed_signature_passes_with_its_root():
    body = (DATA / "ca_valid_sig_env.json").read_bytes()
    result = _verify(SAMPLE, body, _notation_root(), NOTATION_IDENTITY)
    assert result.verified, result
    assert result.expiry is not None  # it carries an expiry, far ahead


@pytest.mark.parametrize("vector, failure", [
    ("ca_expired_sig_env.json", "expiry: the signature expired at"),
    ("ca_invalid_sig_env.json", "integrity: the signature does not match"),
    ("ca_plugin_sig_env.json", "integrity: the critical header"),
])
def test_the_refused_vectors_fail_where_notation_fails_them(vector, failure):
    result = _verify(SAMPLE, (DATA / vector).read_bytes(), _notation_root())
    assert not result.verified and result.failure.startswith(failure), result


def test_the_signing_authority_scheme_is_not_taken_for_x509():
    """notary.x509.signingAuthority needs a timestamp authority's trust Berth has not: it is
    refused as such, not accepted as notary.x509."""
    result = _verify(SAMPLE, (DATA / "sa_valid_sig_env.json").read_bytes(), _notation_root())
    assert not result.verified and result.failure.startswith("integrity:")


def test_a_vector_for_another_image_or_root_is_refused():
    body = (DATA / "ca_valid_sig_env.json").read_bytes()
    other = {**SAMPLE, "digest": "sha256:" + "0" * 64}
    assert _verify(other, body, _notation_root()).failure.startswith("integrity:")
    subject, alpine = _alpine()
    refused = _verify(SAMPLE, body, [_chain(alpine)[0]])
    assert refused.failure.startswith("authenticity: no certificate of the chain")
