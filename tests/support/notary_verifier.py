"""An independent verifier of Notary Project JWS signatures, for tests.

Follows the Notary Project specifications with only ``cryptography`` and the standard
library (no code shared with Berth's signer): the "strict" level's integrity, authenticity
and expiry steps. Not covered: RFC 3161 timestamps (a ``notary.x509`` chain must be valid at
``now``), revocation, plugins (a critical plugin header is refused as not understood)."""
import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIGNATURE_TYPE = "application/vnd.cncf.notary.signature"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
JWS_MEDIA_TYPE = "application/jose+json"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
THUMBPRINTS = "io.cncf.notary.x509chain.thumbprint#S256"
SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME, EXPIRY = "io.cncf.notary.signingTime", "io.cncf.notary.expiry"
AUTHENTIC_TIME = "io.cncf.notary.authenticSigningTime"
X509, SIGNING_AUTHORITY = "notary.x509", "notary.x509.signingAuthority"
# scheme -> (time header it requires, time header it forbids)
SCHEMES = {X509: (SIGNING_TIME, AUTHENTIC_TIME), SIGNING_AUTHORITY: (AUTHENTIC_TIME, SIGNING_TIME)}
UNDERSTOOD_CRITICAL = {SCHEME, AUTHENTIC_TIME, EXPIRY}
RSA_ALGS = {2048: "PS256", 3072: "PS384", 4096: "PS512"}
EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
FORBIDDEN_LEAF_EKUS = {EKU.ANY_EXTENDED_KEY_USAGE, EKU.SERVER_AUTH, EKU.CLIENT_AUTH,
                       EKU.EMAIL_PROTECTION, EKU.TIME_STAMPING}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.I)


class NotaryVerificationError(Exception):
    """Verification failed at ``step`` ("manifest", "integrity", "authenticity", "expiry")."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


def _fail(step, reason):
    raise NotaryVerificationError(step, reason)


def verify(signature_manifest: bytes, envelope: bytes, subject: dict,
           roots: list[x509.Certificate], trusted_identities: Sequence[str] = ("*",),
           now: datetime | None = None) -> dict:
    """Check the signature manifest against ``envelope`` and ``subject``, then the envelope."""
    _check_manifest(signature_manifest, envelope, subject)
    return verify_envelope(envelope, subject, roots, trusted_identities, now)


def verify_envelope(envelope: bytes, subject: dict, roots: list[x509.Certificate],
                    trusted_identities: Sequence[str] = ("*",),
                    now: datetime | None = None) -> dict:
    """Verify a JWS envelope signing ``subject``; return ``{"payload", "protected"}``."""
    now = now.replace(tzinfo=now.tzinfo or timezone.utc) if now else datetime.now(timezone.utc)
    jws, certs = _parse_envelope(envelope)
    try:
        protected, payload = (json.loads(_b64url(jws[k], k)) for k in ("protected", "payload"))
    except (ValueError, UnicodeDecodeError) as e:
        _fail("integrity", f"protected header or payload is not JSON: {e}")
    if not isinstance(protected, dict) or not isinstance(payload, dict):
        _fail("integrity", "protected header and payload must be JSON objects")
    signature = _b64url(jws["signature"], "signature")
    _check_protected(protected)
    signing_input = f"{jws['protected']}.{jws['payload']}".encode("ascii")
    _check_signature(certs[0], protected["alg"], signing_input, signature)
    target = payload.get("targetArtifact")
    if not _same_descriptor(target, subject):
        _fail("integrity", f"targetArtifact {target!r} is not the subject {subject!r}")
    # Authenticity. The chain must be valid at the authentic signing time
    # (signingAuthority) or, lacking timestamp support, now (notary.x509).
    at = _time(protected[AUTHENTIC_TIME]) if protected[SCHEME] == SIGNING_AUTHORITY else now
    _check_chain(certs, roots, at)
    _check_identity(certs[0], trusted_identities)
    if EXPIRY in protected and now > _time(protected[EXPIRY]):
        _fail("expiry", f"signature expired at {protected[EXPIRY]}")
    return {"payload": payload, "protected": protected}


def _check_manifest(raw: bytes, envelope: bytes, subject: dict) -> None:
    """The signature manifest: type, one JWS layer of these bytes, subject, thumbprints."""
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        _fail("manifest", f"not JSON: {e}")
    if not isinstance(manifest, dict) or manifest.get("mediaType") != IMAGE_MANIFEST \
            or manifest.get("schemaVersion") != 2:
        _fail("manifest", "not a schemaVersion 2 OCI image manifest")
    config = manifest.get("config")
    types = (manifest.get("artifactType", "absent"),
             config.get("mediaType") if isinstance(config, dict) else None)
    if types not in ((SIGNATURE_TYPE, EMPTY_CONFIG), ("absent", SIGNATURE_TYPE)):
        _fail("manifest", "artifactType {!r} with config mediaType {!r}".format(*types))
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        _fail("manifest", "needs exactly one layer")
    layer = layers[0]
    algorithm = str(layer.get("digest")).partition(":")[0]
    if layer.get("mediaType") != JWS_MEDIA_TYPE or layer.get("size") != len(envelope) \
            or algorithm not in ("sha256", "sha512") \
            or layer["digest"] != f"{algorithm}:{hashlib.new(algorithm, envelope).hexdigest()}":
        _fail("manifest", f"layer {layer} is not a {JWS_MEDIA_TYPE} descriptor of the envelope")
    if not _same_descriptor(manifest.get("subject"), subject):
        _fail("manifest", f"subject {manifest.get('subject')!r} is not {subject!r}")
    try:
        claimed = json.loads(manifest["annotations"][THUMBPRINTS])
        claimed = [t.lower() for t in claimed] if isinstance(claimed, list) else None
    except (TypeError, KeyError, ValueError, AttributeError):
        claimed = None
    actual = [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest()
              for c in _parse_envelope(envelope)[1]]
    if claimed != actual:
        _fail("manifest", f"{THUMBPRINTS} {claimed} is not the x5c chain's {actual}")


def _same_descriptor(descriptor, subject: dict) -> bool:
    return isinstance(descriptor, dict) and all(
        type(descriptor.get(k)) is type(subject[k]) and descriptor.get(k) == subject[k]
        for k in ("mediaType", "digest", "size"))


def _parse_envelope(envelope: bytes):
    """The flattened JWS JSON object and the x5c certificates."""
    try:
        jws = json.loads(envelope)
    except (ValueError, UnicodeDecodeError) as e:
        _fail("integrity", f"envelope is not JSON: {e}")
    if not isinstance(jws, dict) or set(jws) != {"payload", "protected", "header", "signature"}:
        _fail("integrity", "envelope must have exactly payload, protected, header, signature")
    if not all(isinstance(jws[k], str) for k in ("payload", "protected", "signature")):
        _fail("integrity", "payload, protected and signature must be strings")
    x5c = jws["header"].get("x5c") if isinstance(jws["header"], dict) else None
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        _fail("integrity", "unprotected header needs a non-empty x5c list")
    try:
        return jws, [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                     for c in x5c]
    except ValueError as e:  # (binascii.Error is a ValueError)
        _fail("integrity", f"x5c is not standard base64 DER certificates: {e}")


def _b64url(text: str, what: str) -> bytes:
    """Strict, canonical base64url without padding."""
    if re.fullmatch(r"[A-Za-z0-9_-]*", text) and len(text) % 4 != 1:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if base64.urlsafe_b64encode(data).rstrip(b"=").decode() == text:
            return data
    _fail("integrity", f"{what} is not canonical unpadded base64url")


def _time(text) -> datetime:
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        _fail("integrity", f"{text!r} is not an RFC 3339 time")
    return datetime.fromisoformat(text.upper())


def _check_protected(protected: dict) -> None:
    """alg, cty, crit, signing scheme and its times."""
    if not isinstance(protected.get("alg"), str) or protected.get("cty") != PAYLOAD_TYPE:
        _fail("integrity", f"needs an alg and cty {PAYLOAD_TYPE}")
    crit = protected.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit) \
            or len(set(crit)) != len(crit):
        _fail("integrity", "crit must be a non-empty list of distinct names")
    for name in crit:
        if name not in UNDERSTOOD_CRITICAL or name not in protected:
            _fail("integrity", f"critical header {name!r} is not understood or not present")
    for name in UNDERSTOOD_CRITICAL & set(protected) - set(crit):
        _fail("integrity", f"{name} must be marked critical")
    required, forbidden = SCHEMES.get(protected.get(SCHEME), (None, None))
    if required not in protected or forbidden in protected:
        _fail("integrity", f"scheme {protected.get(SCHEME)!r} needs {required}, not {forbidden}")
    for name in (SIGNING_TIME, AUTHENTIC_TIME, EXPIRY):
        if name in protected:
            _time(protected[name])


def _check_signature(leaf: x509.Certificate, alg: str, signed: bytes, signature: bytes) -> None:
    """``alg`` is the leaf key's algorithm and the signature verifies with that key."""
    key = leaf.public_key()
    expected = (RSA_ALGS.get(key.key_size) if isinstance(key, rsa.RSAPublicKey) else
                EC_ALGS.get(key.curve.name) if isinstance(key, ec.EllipticCurvePublicKey) else None)
    if expected is None or alg != expected:
        _fail("integrity", f"alg {alg!r} is not the leaf key's algorithm {expected!r}")
    digest = HASHES[alg[2:]]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            salt = digest.digest_size
            key.verify(signature, signed, padding.PSS(padding.MGF1(digest), salt), digest)
            return
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            _fail("integrity", f"{alg} signature must be {2 * size} bytes (r||s)")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
    except InvalidSignature:
        _fail("integrity", "signature does not verify with the leaf certificate's key")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _check_chain(certs: list, roots: list, at: datetime) -> None:
    """Leaf first, each issued by the next, ending self-signed; a cert of it is trusted.
    (verify_directly_issued_by refuses SHA-1 signatures, which the specification forbids.)"""
    try:
        for i, cert in enumerate(certs):
            last = i == len(certs) - 1
            if not _issued_by(cert, cert if last else certs[i + 1]):
                _fail("authenticity", f"certificate {i} ({cert.subject.rfc4514_string()}) is "
                      f"not issued by {'itself' if last else f'certificate {i + 1}'}")
            if not last and _issued_by(cert, cert):
                _fail("authenticity", f"certificate {i} is self-signed but not last")
            if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
                _fail("authenticity", f"certificate {i} is not valid at {at.isoformat()}")
            _check_usage(cert, i)
    except x509.DuplicateExtension as e:
        _fail("authenticity", f"unreadable extensions: {e}")
    trusted = {root.public_bytes(Encoding.DER) for root in roots}
    if not any(cert.public_bytes(Encoding.DER) in trusted for cert in certs):
        _fail("authenticity", "no certificate of the chain is in the trust store")


def _check_usage(cert: x509.Certificate, index: int) -> None:
    """Leaf (index 0) or CA certificate requirements on basicConstraints and key usages."""
    def extension(kind):
        try:
            return cert.extensions.get_extension_for_class(kind)
        except x509.ExtensionNotFound:
            return None
    usage, constraints = extension(x509.KeyUsage), extension(x509.BasicConstraints)
    if usage is None or not usage.critical:
        _fail("authenticity", f"certificate {index} needs a critical keyUsage")
    u, ekus = usage.value, extension(x509.ExtendedKeyUsage)
    if index == 0:  # (encipherOnly/decipherOnly only exist with keyAgreement)
        if not u.digital_signature or u.key_encipherment or u.data_encipherment \
                or u.key_agreement or u.key_cert_sign or u.crl_sign:
            _fail("authenticity", f"leaf keyUsage must have digitalSignature only: {u}")
        if constraints is not None and constraints.value.ca:
            _fail("authenticity", "leaf basicConstraints has cA true")
        if ekus is not None and FORBIDDEN_LEAF_EKUS & set(ekus.value):
            _fail("authenticity", f"leaf extendedKeyUsage has forbidden usages: {ekus.value}")
        return
    if constraints is None or not constraints.critical or not constraints.value.ca:
        _fail("authenticity", f"certificate {index} needs critical basicConstraints cA true")
    if constraints.value.path_length is not None and constraints.value.path_length < index - 1:
        _fail("authenticity", f"certificate {index} pathLenConstraint is exceeded")
    if not u.key_cert_sign:
        _fail("authenticity", f"certificate {index} keyUsage lacks keyCertSign")


def _parse_dn(text: str) -> dict:
    """An ``x509.subject`` identity's RDNs (``\\`` escapes; ``S`` read as ``ST``)."""
    rdns = {}
    for part in re.findall(r"(?:\\.|[^,\\])+", text):
        key, sep, value = (s.strip() for s in part.partition("="))
        key = "ST" if key == "S" else key
        if not sep or not key or key in rdns or value.startswith("#") \
                or not re.fullmatch(r"(?:\\.|[^+\\])*", value):
            raise ValueError(f"bad or multi-valued distinguished name {text!r}")
        rdns[key] = re.sub(r"\\(.)", r"\1", value)
    if not {"C", "ST", "O"} <= set(rdns):
        raise ValueError(f"identity {text!r} must name C, ST and O")
    return rdns


def _check_identity(leaf: x509.Certificate, trusted_identities) -> None:
    """``*``, or an ``x509.subject:`` identity whose RDNs all equal the leaf subject's."""
    if any(identity.strip() == "*" for identity in trusted_identities):
        return
    names = [(a.rfc4514_attribute_name, a.value) for rdn in leaf.subject.rdns for a in rdn]
    subject = dict(names)
    if len(subject) != len(names) or len(names) != len(leaf.subject.rdns):
        _fail("authenticity", "leaf subject has multi-valued or repeated RDNs")
    for identity in trusted_identities:
        kind, _, name = identity.partition(":")
        if kind.strip() != "x509.subject":
            raise ValueError(f"unsupported trusted identity {identity!r}")
        if all(subject.get(key) == value for key, value in _parse_dn(name).items()):
            return
    _fail("authenticity", f"leaf {leaf.subject.rfc4514_string()} matches no trusted identity")
