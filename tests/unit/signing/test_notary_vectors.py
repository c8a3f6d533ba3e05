"""The independent Notary Project verifier (tests/support/notary_verifier.py) against the
Notary Project's own test vectors (notation-go; see tests/data/notary/NOTICE), and against
envelopes generated here for what those vectors do not cover (ECDSA keys, PSS salt length,
protected-header and certificate rules)."""
import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.notary_verifier import NotaryVerificationError, verify, verify_envelope

DATA = Path(__file__).parents[2] / "data" / "notary"
ALPINE_BLOB = "19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
# The descriptor notation-go's mock vectors sign (internal/mock/mocks.go SampleDigest).
SAMPLE_SUBJECT = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                  "digest": "sha256:60043cf45eaebc4c0867fea485a039b5"
                            "98f52fd09fd5b07b0b2d2f88fad9d74e",
                  "size": 528}
# The identity notation-go's verifier tests trust (verifier/helpers_test.go).
IDENTITY = "x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"
THUMBPRINTS = "io.cncf.notary.x509chain.thumbprint#S256"


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _x5c(envelope: bytes) -> list[bytes]:
    return [base64.b64decode(c) for c in json.loads(envelope)["header"]["x5c"]]


def _descriptor(blob: bytes) -> dict:
    return {"mediaType": json.loads(blob)["mediaType"],
            "digest": f"sha256:{hashlib.sha256(blob).hexdigest()}", "size": len(blob)}


ALPINE_ENVELOPE = _read("jws_signature.sig")
ALPINE_SUBJECT = _descriptor(_read(ALPINE_BLOB))
# That vector's single self-signed certificate is its own trust anchor.
ALPINE_ROOTS = [x509.load_der_x509_certificate(_x5c(ALPINE_ENVELOPE)[0])]
NOTATION_ROOTS = x509.load_pem_x509_certificates(_read("NotationTestRoot.pem"))


def _failure(function, *args, **kwargs) -> NotaryVerificationError:
    with pytest.raises(NotaryVerificationError) as failed:
        function(*args, **kwargs)
    return failed.value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _edit(envelope: bytes, change) -> bytes:
    """The envelope after ``change(jws_dict)``."""
    jws = json.loads(envelope)
    change(jws)
    return json.dumps(jws).encode()


@pytest.fixture(scope="module")
def unrelated_root() -> x509.Certificate:
    key, name = ec.generate_private_key(ec.SECP256R1()), _name("Unrelated Root", "Unrelated")
    return _cert(name, key, name, key, CA_EXTENSIONS)


# --- Vectors that verify ---------------------------------------------------------------

def test_the_vector_subject_is_the_manifest_blob():
    assert ALPINE_SUBJECT["digest"] == f"sha256:{ALPINE_BLOB}"
    assert ALPINE_SUBJECT["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


def test_jws_signature_vector_verifies():
    result = verify_envelope(ALPINE_ENVELOPE, ALPINE_SUBJECT, ALPINE_ROOTS)
    assert result["payload"]["targetArtifact"]["digest"] == ALPINE_SUBJECT["digest"]
    assert result["protected"]["alg"] == "PS256"
    assert result["protected"]["io.cncf.notary.signingScheme"] == "notary.x509"


@pytest.mark.parametrize("name, scheme", [
    ("ca_valid_sig_env.json", "notary.x509"),
    ("sa_valid_sig_env.json", "notary.x509.signingAuthority"),
])
def test_ca_vectors_verify_with_the_notation_test_root(name, scheme):
    result = verify_envelope(_read(name), SAMPLE_SUBJECT, NOTATION_ROOTS, [IDENTITY])
    assert result["protected"]["io.cncf.notary.signingScheme"] == scheme
    assert result["protected"]["alg"] == "PS384"
    assert result["payload"]["targetArtifact"] == SAMPLE_SUBJECT


@pytest.mark.parametrize("identities", [
    ["*"],
    [IDENTITY],
    ["x509.subject: C=US, S=WA, O=Notary"],  # a subset, with S for ST
    ["x509.subject: C=US, ST=WA, O=Other", "x509.subject: C=US, ST=WA, O=Notary, L=Seattle"],
])
def test_a_matching_trusted_identity_passes(identities):
    verify_envelope(_read("ca_valid_sig_env.json"), SAMPLE_SUBJECT, NOTATION_ROOTS, identities)


# --- Vectors and variations that must fail ----------------------------------------------

@pytest.mark.parametrize("identity", [
    "x509.subject: C=US, ST=WA, O=Other",
    "x509.subject: C=US, ST=OR, O=Notary",
    "x509.subject: CN=Someone Else, O=Notary, L=Seattle, ST=WA, C=US",
])
def test_a_trusted_identity_that_does_not_match_fails_authenticity(identity):
    failure = _failure(verify_envelope, _read("ca_valid_sig_env.json"), SAMPLE_SUBJECT,
                       NOTATION_ROOTS, [identity])
    assert failure.step == "authenticity"
    assert "trusted identity" in failure.reason


def test_the_expired_vector_fails_expiry_and_only_that():
    envelope = _read("ca_expired_sig_env.json")
    assert _failure(verify_envelope, envelope, SAMPLE_SUBJECT, NOTATION_ROOTS).step == "expiry"
    before_expiry = datetime(2022, 7, 29, 12, tzinfo=timezone.utc)
    verify_envelope(envelope, SAMPLE_SUBJECT, NOTATION_ROOTS, now=before_expiry)


def test_the_invalid_vector_fails_integrity():
    failure = _failure(verify_envelope, _read("ca_invalid_sig_env.json"), SAMPLE_SUBJECT,
                       NOTATION_ROOTS)
    assert failure.step == "integrity"


def test_the_plugin_vector_is_refused_for_its_unknown_critical_headers():
    failure = _failure(verify_envelope, _read("ca_plugin_sig_env.json"), SAMPLE_SUBJECT,
                       NOTATION_ROOTS)
    assert (failure.step, "critical header" in failure.reason) == ("integrity", True)


def test_a_critical_verification_plugin_header_alone_is_refused():
    def only_plugin(jws):
        protected = json.loads(base64.urlsafe_b64decode(jws["protected"] + "=="))
        protected["crit"].remove("SomeKey")
        del protected["SomeKey"]
        jws["protected"] = _b64url(json.dumps(protected).encode())
    envelope = _edit(_read("ca_plugin_sig_env.json"), only_plugin)
    failure = _failure(verify_envelope, envelope, SAMPLE_SUBJECT, NOTATION_ROOTS)
    assert failure.step == "integrity" and "verificationPlugin" in failure.reason


@pytest.mark.parametrize("field, value", [
    ("digest", "sha256:" + "0" * 64),
    ("size", 529),
    ("mediaType", "application/vnd.oci.image.manifest.v1+json"),
])
def test_a_valid_vector_for_another_subject_fails_integrity(field, value):
    subject = {**SAMPLE_SUBJECT, field: value}
    failure = _failure(verify_envelope, _read("ca_valid_sig_env.json"), subject, NOTATION_ROOTS)
    assert failure.step == "integrity" and "targetArtifact" in failure.reason


@pytest.mark.parametrize("roots", ["unrelated", "alpine", "none"])
def test_a_valid_vector_without_its_root_fails_authenticity(roots, unrelated_root):
    trust_store = {"unrelated": [unrelated_root], "alpine": ALPINE_ROOTS, "none": []}[roots]
    failure = _failure(verify_envelope, _read("ca_valid_sig_env.json"), SAMPLE_SUBJECT,
                       trust_store)
    assert failure.step == "authenticity" and "trust store" in failure.reason


def test_the_self_signed_vector_is_not_trusted_under_another_root():
    failure = _failure(verify_envelope, ALPINE_ENVELOPE, ALPINE_SUBJECT, NOTATION_ROOTS)
    assert failure.step == "authenticity"


@pytest.mark.parametrize("now", [datetime(2020, 10, 1, tzinfo=timezone.utc),
                                 datetime(2123, 1, 1, tzinfo=timezone.utc)])
def test_a_chain_outside_its_validity_fails_authenticity(now):
    failure = _failure(verify_envelope, _read("ca_valid_sig_env.json"), SAMPLE_SUBJECT,
                       NOTATION_ROOTS, now=now)
    assert failure.step == "authenticity" and "not valid at" in failure.reason


def test_a_signing_authority_chain_is_checked_at_the_authentic_signing_time():
    # The certificates expire in 2122 but were valid at authenticSigningTime (2020-11-09):
    # authenticity passes, and the signature's own expiry (2120) is what fails.
    failure = _failure(verify_envelope, _read("sa_valid_sig_env.json"), SAMPLE_SUBJECT,
                       NOTATION_ROOTS, now=datetime(2123, 1, 1, tzinfo=timezone.utc))
    assert failure.step == "expiry"


def _flip_signature(jws):
    raw = bytearray(base64.urlsafe_b64decode(jws["signature"] + "=="))
    raw[10] ^= 1
    jws["signature"] = _b64url(bytes(raw))


def _other_payload(jws):
    jws["payload"] = _b64url(json.dumps({"targetArtifact": ALPINE_SUBJECT}).encode())


def _ps256(jws):
    protected = json.loads(base64.urlsafe_b64decode(jws["protected"] + "=="))
    jws["protected"] = _b64url(json.dumps({**protected, "alg": "PS256"}).encode())


@pytest.mark.parametrize("change, reason", [
    (_flip_signature, "does not verify"),
    (_other_payload, "does not verify"),
    (_ps256, "algorithm"),
    (lambda jws: jws.update(extra="x"), "exactly"),
    (lambda jws: jws.update(payload=jws["payload"] + "="), "base64url"),
    (lambda jws: jws["header"].pop("x5c"), "x5c"),
    (lambda jws: jws["header"].update(x5c=[]), "x5c"),
    (lambda jws: jws["header"]["x5c"].insert(0, "MIIB-_"), "x5c"),       # not standard base64
    (lambda jws: jws["header"]["x5c"].insert(0, "MIIB"), "x5c"),         # not DER
])
def test_a_tampered_envelope_fails_integrity(change, reason):
    envelope = _edit(_read("ca_valid_sig_env.json"), change)
    failure = _failure(verify_envelope, envelope, SAMPLE_SUBJECT, NOTATION_ROOTS)
    assert failure.step == "integrity" and reason in failure.reason


def test_a_non_canonical_base64url_signature_fails_integrity():
    # PS256 signatures are 256 bytes: the last base64url character carries 4 spare bits.
    def spare_bits(jws):
        last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        jws["signature"] = jws["signature"][:-1] + last[last.index(jws["signature"][-1]) | 1]
    envelope = _edit(ALPINE_ENVELOPE, spare_bits)
    assert json.loads(envelope)["signature"] != json.loads(ALPINE_ENVELOPE)["signature"]
    failure = _failure(verify_envelope, envelope, ALPINE_SUBJECT, ALPINE_ROOTS)
    assert failure.step == "integrity" and "base64url" in failure.reason


def test_a_chain_without_its_root_fails_authenticity():
    # x5c is unprotected: dropping the root keeps the signature valid, not the chain.
    envelope = _edit(_read("ca_valid_sig_env.json"), lambda j: j["header"]["x5c"].pop())
    failure = _failure(verify_envelope, envelope, SAMPLE_SUBJECT, NOTATION_ROOTS)
    assert failure.step == "authenticity" and "not issued by itself" in failure.reason


# --- The signature manifest --------------------------------------------------------------

def _manifest(envelope: bytes, subject: dict, legacy=False, upper=False) -> dict:
    """A Notary Project signature manifest for the envelope, per the specification."""
    thumbprints = [hashlib.sha256(der).hexdigest() for der in _x5c(envelope)]
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                   "digest": f"sha256:{hashlib.sha256(b'{}').hexdigest()}"},
        "layers": [{"mediaType": "application/jose+json", "size": len(envelope),
                    "digest": f"sha256:{hashlib.sha256(envelope).hexdigest()}"}],
        "subject": dict(subject),
        "annotations": {THUMBPRINTS: json.dumps([t.upper() if upper else t for t in thumbprints]),
                        "org.opencontainers.image.created": "2023-03-14T08:10:02Z"}}
    if legacy:
        del manifest["artifactType"]
        manifest["config"] = {"mediaType": "application/vnd.cncf.notary.signature", "size": 2,
                              "digest": manifest["config"]["digest"]}
    return manifest


VECTORS = {"alpine": (ALPINE_ENVELOPE, ALPINE_SUBJECT, ALPINE_ROOTS),
           "ca": (_read("ca_valid_sig_env.json"), SAMPLE_SUBJECT, NOTATION_ROOTS)}


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("legacy, upper", [(False, False), (True, False), (False, True)])
def test_a_signature_manifest_around_a_vector_verifies(vector, legacy, upper):
    envelope, subject, roots = VECTORS[vector]
    manifest = json.dumps(_manifest(envelope, subject, legacy, upper)).encode()
    result = verify(manifest, envelope, subject, roots)
    assert result["payload"]["targetArtifact"]["digest"] == subject["digest"]


def _set(path, value):
    def change(manifest):
        *parents, last = path
        target = manifest
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value(target[last]) if callable(value) else value
    return change


def _one_hex_changed(annotation: str) -> str:
    thumbprints = json.loads(annotation)
    thumbprints[0] = ("0" if thumbprints[0][0] != "0" else "1") + thumbprints[0][1:]
    return json.dumps(thumbprints)


@pytest.mark.parametrize("change", [
    _set(["annotations", THUMBPRINTS], _one_hex_changed),
    _set(["annotations", THUMBPRINTS], lambda a: json.dumps(json.loads(a)[::-1])),
    _set(["annotations", THUMBPRINTS], lambda a: json.dumps(json.loads(a)[:1])),
    _set(["annotations", THUMBPRINTS], lambda a: json.loads(a)[0]),
    _set(["annotations", THUMBPRINTS], KeyError),
    _set(["layers", 0, "digest"], "sha256:" + "0" * 64),
    _set(["layers", 0, "size"], lambda size: size + 1),
    _set(["layers", 0, "mediaType"], "application/cose"),
    _set(["layers"], lambda layers: layers * 2),
    _set(["subject", "digest"], "sha256:" + "0" * 64),
    _set(["subject", "size"], str),
    _set(["subject", "size"], float),
    _set(["artifactType"], "application/vnd.example.sbom"),
    _set(["config", "mediaType"], "application/vnd.oci.image.config.v1+json"),
    _set(["mediaType"], "application/vnd.oci.image.index.v1+json"),
], ids=["thumbprint-changed", "thumbprints-reversed", "thumbprint-missing-root",
        "thumbprint-not-an-array", "no-thumbprint-annotation", "layer-digest", "layer-size",
        "layer-media-type", "two-layers", "subject-digest", "subject-size-string",
        "subject-size-float",
        "artifact-type", "config-media-type", "index-media-type"])
def test_a_wrong_signature_manifest_is_refused(change):
    envelope, subject, roots = VECTORS["ca"]
    manifest = _manifest(envelope, subject)
    change(manifest)
    failure = _failure(verify, json.dumps(manifest).encode(), envelope, subject, roots)
    assert failure.step == "manifest"


def test_a_good_manifest_does_not_excuse_its_envelope():
    envelope = _read("ca_expired_sig_env.json")
    manifest = json.dumps(_manifest(envelope, SAMPLE_SUBJECT)).encode()
    failure = _failure(verify, manifest, envelope, SAMPLE_SUBJECT, NOTATION_ROOTS)
    assert failure.step == "expiry"


# --- Envelopes generated here ------------------------------------------------------------

KEYS = {"P-256": (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        "P-384": (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        "P-521": (lambda: ec.generate_private_key(ec.SECP521R1()), "ES512"),
        "RSA-2048": (lambda: rsa.generate_private_key(65537, 2048), "PS256")}
SCHEME, SIGNING_TIME = "io.cncf.notary.signingScheme", "io.cncf.notary.signingTime"
AUTHENTIC_TIME, EXPIRY = "io.cncf.notary.authenticSigningTime", "io.cncf.notary.expiry"
GENERATED_SUBJECT = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "digest": "sha256:" + hashlib.sha256(b"a manifest").hexdigest(), "size": 10}


def _usage(**bits) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(*(bits.get(name, False) for name in names))


LEAF_EXTENSIONS = [(_usage(digital_signature=True), True),
                   (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)]
CA_EXTENSIONS = [(x509.BasicConstraints(ca=True, path_length=None), True),
                 (_usage(key_cert_sign=True, crl_sign=True), True)]


def _name(common_name: str, organization="Berth Tests") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(name, key, issuer_name, issuer_key, extensions) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=30))
               .not_valid_after(now + timedelta(days=30)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA384())


def _chain(kind="P-384", leaf=LEAF_EXTENSIONS, root=CA_EXTENSIONS, intermediate=None,
           leaf_name=None):
    """(leaf key, [leaf, (intermediate,) root]) for a fresh root CA."""
    root_key, leaf_key = ec.generate_private_key(ec.SECP384R1()), KEYS[kind][0]()
    certs = [_cert(_name("Root"), root_key, _name("Root"), root_key, root)]
    issuer_name, issuer_key = _name("Root"), root_key
    if intermediate is not None:
        key = ec.generate_private_key(ec.SECP384R1())
        certs.insert(0, _cert(_name("Intermediate"), key, issuer_name, issuer_key, intermediate))
        issuer_name, issuer_key = _name("Intermediate"), key
    certs.insert(0, _cert(leaf_name or _name("Signer"), leaf_key, issuer_name, issuer_key, leaf))
    return leaf_key, certs


def _sign(key, alg: str, data: bytes, der=False, salt=None) -> bytes:
    """A JWS signature: RSASSA-PSS (salt = hash length), or ECDSA as raw r||s."""
    digest = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]()
    if isinstance(key, rsa.RSAPrivateKey):
        salt = digest.digest_size if salt is None else salt
        return key.sign(data, padding.PSS(padding.MGF1(digest), salt), digest)
    signature = key.sign(data, ec.ECDSA(digest))
    if der:
        return signature
    size = (key.curve.key_size + 7) // 8
    return b"".join(n.to_bytes(size, "big") for n in decode_dss_signature(signature))


def _envelope(key, certs, alg=None, protected=(), **sign_options) -> bytes:
    """A Notary Project JWS envelope for GENERATED_SUBJECT; ``protected`` edits the header
    (a None value removes the entry)."""
    if alg is None:  # the specification's table
        alg = ({2048: "PS256", 3072: "PS384", 4096: "PS512"}[key.key_size]
               if isinstance(key, rsa.RSAPrivateKey)
               else {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size])
    header = {"alg": alg, "crit": [SCHEME], "cty": "application/vnd.cncf.notary.payload.v1+json",
              SCHEME: "notary.x509",
              SIGNING_TIME: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    header.update(dict(protected))
    header = {k: v for k, v in header.items() if v is not None}
    protected_b64 = _b64url(json.dumps(header).encode())
    payload_b64 = _b64url(json.dumps({"targetArtifact": GENERATED_SUBJECT}).encode())
    signature = _sign(key, alg, f"{protected_b64}.{payload_b64}".encode(), **sign_options)
    return json.dumps({
        "payload": payload_b64, "protected": protected_b64, "signature": _b64url(signature),
        "header": {"x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                           for c in certs],
                   "io.cncf.notary.signingAgent": "berth-tests/1"}}).encode()


@pytest.mark.parametrize("kind", KEYS)
def test_generated_signatures_verify(kind):
    key, certs = _chain(kind)
    envelope = _envelope(key, certs)
    result = verify_envelope(envelope, GENERATED_SUBJECT, certs[-1:])
    assert result["protected"]["alg"] == KEYS[kind][1]
    manifest = json.dumps(_manifest(envelope, GENERATED_SUBJECT)).encode()
    verify(manifest, envelope, GENERATED_SUBJECT, certs[-1:], ["x509.subject: C=US, ST=WA, "
                                                               "O=Berth Tests, CN=Signer"])


@pytest.mark.parametrize("kind, sign_options, reason", [
    ("P-384", {"der": True}, "r||s"),                  # ASN.1 DER, not JWS's raw r||s
    ("RSA-2048", {"salt": 0}, "does not verify"),      # PSS salt must be the hash length
    ("RSA-2048", {"salt": padding.PSS.MAX_LENGTH}, "does not verify"),
])
def test_a_wrongly_encoded_signature_fails_integrity(kind, sign_options, reason):
    key, certs = _chain(kind)
    envelope = _envelope(key, certs, **sign_options)
    failure = _failure(verify_envelope, envelope, GENERATED_SUBJECT, certs[-1:])
    assert failure.step == "integrity" and reason in failure.reason


@pytest.mark.parametrize("kind, alg", [("P-384", "ES256"), ("P-256", "ES384"),
                                       ("RSA-2048", "PS384"), ("P-256", "PS256")])
def test_an_alg_other_than_the_leaf_keys_fails_integrity(kind, alg):
    key, certs = _chain(kind)
    if alg.startswith("PS") != isinstance(key, rsa.RSAPrivateKey):
        key = KEYS["RSA-2048"][0]()  # signed by another key type: still the leaf's alg wins
    failure = _failure(verify_envelope, _envelope(key, certs, alg=alg), GENERATED_SUBJECT,
                       certs[-1:])
    assert failure.step == "integrity" and "algorithm" in failure.reason


# (Certificates are valid for 30 days either side of their creation.)
LATER = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
NOW = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("protected", [
    {"crit": [SCHEME, EXPIRY], EXPIRY: LATER},
    {"crit": [SCHEME, AUTHENTIC_TIME], SCHEME: "notary.x509.signingAuthority",
     AUTHENTIC_TIME: NOW, SIGNING_TIME: None},
    {"crit": [SCHEME, AUTHENTIC_TIME, EXPIRY], SCHEME: "notary.x509.signingAuthority",
     AUTHENTIC_TIME: NOW, EXPIRY: LATER, SIGNING_TIME: None},
], ids=["x509-expiry", "signing-authority", "signing-authority-expiry"])
def test_generated_header_variants_verify(protected):
    key, certs = _chain()
    verify_envelope(_envelope(key, certs, protected=protected), GENERATED_SUBJECT, certs[-1:])


@pytest.mark.parametrize("protected", [
    {"crit": None},
    {"crit": []},
    {"crit": [SCHEME, SCHEME]},
    {"crit": [SCHEME, "alg"]},
    {"crit": [SCHEME, EXPIRY]},                                         # expiry absent
    {EXPIRY: LATER},                                                    # expiry not critical
    {"cty": "application/json"},
    {SIGNING_TIME: None},                                               # x509 needs it
    {SIGNING_TIME: "2024-01-01 10:00:00"},                              # not RFC 3339
    {SCHEME: "notary.example"},
    {"crit": [SCHEME, AUTHENTIC_TIME], AUTHENTIC_TIME: NOW},            # x509 forbids it
    {SCHEME: "notary.x509.signingAuthority"},                           # needs authentic time
    {SCHEME: "notary.x509.signingAuthority", AUTHENTIC_TIME: NOW, SIGNING_TIME: None},
    {"crit": [SCHEME, AUTHENTIC_TIME], SCHEME: "notary.x509.signingAuthority",
     AUTHENTIC_TIME: NOW},                                              # forbids signingTime
])
def test_a_protected_header_against_the_rules_fails_integrity(protected):
    key, certs = _chain()
    failure = _failure(verify_envelope, _envelope(key, certs, protected=protected),
                       GENERATED_SUBJECT, certs[-1:])
    assert failure.step == "integrity"


def test_a_generated_expired_signature_fails_expiry():
    key, certs = _chain()
    envelope = _envelope(key, certs, protected={"crit": [SCHEME, EXPIRY], EXPIRY: NOW})
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    failure = _failure(verify_envelope, envelope, GENERATED_SUBJECT, certs[-1:], now=later)
    assert failure.step == "expiry"


CODE_SIGNING = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])
SIGNING = (_usage(digital_signature=True), True)


@pytest.mark.parametrize("chain", [
    {"leaf": [SIGNING]},                                                # no EKU
    {"leaf": [SIGNING, (x509.BasicConstraints(ca=False, path_length=None), True)]},
    {"leaf": [(_usage(digital_signature=True, content_commitment=True), True)]},
    {"intermediate": CA_EXTENSIONS},
    {"intermediate": [(x509.BasicConstraints(ca=True, path_length=0), True),
                      (_usage(key_cert_sign=True), True)],
     "root": [(x509.BasicConstraints(ca=True, path_length=1), True),
              (_usage(key_cert_sign=True), True)]},
], ids=["no-eku", "leaf-ca-false", "non-repudiation", "intermediate", "path-lengths"])
def test_certificates_meeting_the_requirements_verify(chain):
    key, certs = _chain(**chain)
    verify_envelope(_envelope(key, certs), GENERATED_SUBJECT, certs[-1:])


@pytest.mark.parametrize("chain", [
    {"leaf": [(CODE_SIGNING, False)]},                                  # no keyUsage
    {"leaf": [(_usage(digital_signature=True), False)]},                # not critical
    {"leaf": [(_usage(content_commitment=True), True)]},                # no digitalSignature
    {"leaf": [(_usage(digital_signature=True, key_encipherment=True), True)]},
    {"leaf": [(_usage(digital_signature=True, key_cert_sign=True), True)]},
    {"leaf": [SIGNING, (x509.BasicConstraints(ca=True, path_length=None), True)]},
    {"leaf": [SIGNING, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)]},
    {"leaf": [SIGNING, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING,
                                               ExtendedKeyUsageOID.TIME_STAMPING]), False)]},
    {"leaf": [SIGNING, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]),
                        False)]},
    {"root": [(_usage(key_cert_sign=True), True)]},                     # no basicConstraints
    {"root": [(x509.BasicConstraints(ca=False, path_length=None), True),
              (_usage(key_cert_sign=True), True)]},
    {"root": [(x509.BasicConstraints(ca=True, path_length=None), True),
              (_usage(digital_signature=True), True)]},                 # no keyCertSign
    {"intermediate": CA_EXTENSIONS,
     "root": [(x509.BasicConstraints(ca=True, path_length=0), True),
              (_usage(key_cert_sign=True), True)]},                     # path length exceeded
])
def test_certificates_against_the_requirements_fail_authenticity(chain):
    key, certs = _chain(**chain)
    failure = _failure(verify_envelope, _envelope(key, certs), GENERATED_SUBJECT, certs[-1:])
    assert failure.step == "authenticity"


def test_a_chain_with_a_missing_intermediate_fails_authenticity():
    key, certs = _chain(intermediate=CA_EXTENSIONS)
    envelope = _envelope(key, [certs[0], certs[2]])
    failure = _failure(verify_envelope, envelope, GENERATED_SUBJECT, certs[-1:])
    assert failure.step == "authenticity" and "not issued by" in failure.reason


def test_a_repeated_root_fails_authenticity():
    key, certs = _chain()
    failure = _failure(verify_envelope, _envelope(key, certs + certs[-1:]), GENERATED_SUBJECT,
                       certs[-1:])
    assert failure.step == "authenticity" and "self-signed but not last" in failure.reason


def test_trusting_the_intermediate_is_enough():
    key, certs = _chain(intermediate=CA_EXTENSIONS)
    verify_envelope(_envelope(key, certs), GENERATED_SUBJECT, [certs[1]])


@pytest.mark.parametrize("identity, matches", [
    (r"x509.subject: C=US, ST=WA, O=Acme\, Inc.", True),                # escaped comma
    (r"x509.subject: C=US, ST=WA, O=Acme\, Inc., CN=Signer", True),
    ("x509.subject: C=US, ST=WA, O=Acme", False),
    (r"x509.subject: C=US, ST=WA, O=Acme\, Inc., CN=Someone", False),
])
def test_identities_are_matched_rdn_by_rdn(identity, matches):
    key, certs = _chain(leaf_name=_name("Signer", organization="Acme, Inc."))
    check = (lambda: verify_envelope(_envelope(key, certs), GENERATED_SUBJECT, certs[-1:],
                                     [identity]))
    if matches:
        check()
    else:
        assert _failure(check).step == "authenticity"


@pytest.mark.parametrize("identity", ["x509.subject: CN=Signer, O=Berth Tests",  # no C, ST
                                      "x509.subject: C=US, ST=WA, O=A+CN=B",      # multi-valued
                                      "x509.subject: C=US, C=CA, ST=WA, O=A",     # repeated
                                      "signingAuthority: C=US, ST=WA, O=A"])
def test_malformed_trusted_identities_are_a_caller_error(identity):
    key, certs = _chain()
    with pytest.raises(ValueError):
        verify_envelope(_envelope(key, certs), GENERATED_SUBJECT, certs[-1:], [identity])


def test_a_leaf_subject_with_a_repeated_rdn_matches_only_the_wildcard():
    name = x509.Name([*_name("Signer"), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "a"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "b")])
    key, certs = _chain(leaf_name=name)
    envelope = _envelope(key, certs)
    verify_envelope(envelope, GENERATED_SUBJECT, certs[-1:], ["*"])
    failure = _failure(verify_envelope, envelope, GENERATED_SUBJECT, certs[-1:],
                       ["x509.subject: C=US, ST=WA, O=Berth Tests"])
    assert failure.step == "authenticity" and "repeated" in failure.reason
