"""X.509 for signing profiles, as the Notary Project's certificate requirements ask: each
account's own CA (self-signed, ``keyCertSign``), and code-signing leaf certificates it issues
to profiles (``digitalSignature``, extended key usage ``codeSigning``, not a CA); or a chain
an organisation's CA issued, checked against the same rules when it is imported."""
from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .models import ChainInvalid

CA_YEARS = 10
_DAY = datetime.timedelta(days=1)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_bytes(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key(der: bytes):
    return serialization.load_der_private_key(der, None)


def _name(account_id: str, common_name: str, region: str | None = None) -> x509.Name:
    # C, ST and O are what a Notation trusted identity must name at least; L, the region,
    # tells apart profiles of one name in two regions (revoking one must not trust the other).
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Berth"),
                      *([x509.NameAttribute(NameOID.LOCALITY_NAME, region)] if region else []),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, account_id),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before, not_after):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False))


def make_ca(account_id: str, now: datetime.datetime):
    """A new CA for the account: (private key, certificate)."""
    key = new_key()
    name = _name(account_id, f"Berth signing CA {account_id}")
    cert = (_builder(name, name, key.public_key(), now - _DAY,
                     now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            .add_extension(_usage(cert_sign=True), True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert: x509.Certificate, account_id: str, name: str,
          now: datetime.datetime, days: int, region: str | None = None):
    """A profile's key and its code-signing certificate from the account's CA."""
    key = new_key()
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (_builder(_name(account_id, name, region), ca_cert.subject, key.public_key(),
                     now - datetime.timedelta(minutes=5), not_after)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(_usage(cert_sign=False), True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def load_chain(text: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise ChainInvalid(f"the certificate chain is not PEM: {exc}") from None
    if not certs:
        raise ChainInvalid("the certificate chain holds no certificate")
    return certs


def thumbprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def algorithm(key) -> str:
    """The JWS algorithm the Notary Project pairs with the key's type and size."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        found = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
    elif isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        found = {2048: "PS256", 3072: "PS384", 4096: "PS512"}.get(key.key_size)
    else:
        found = None
    if found is None:
        raise ChainInvalid("the key must be ECDSA P-256/P-384/P-521 or RSA 2048/3072/4096")
    return found


def check_chain(certs: list[x509.Certificate], key=None) -> None:
    """The Notary Project's rules for a signing chain: the leaf first, each certificate
    issued by the next, ending at a self-signed root (a lone certificate is a self-signed
    leaf); ``key``, if given, must be the leaf's private key."""
    leaf = certs[0]
    algorithm(leaf.public_key())
    if key is not None and _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise ChainInvalid("the private key is not the key of the chain's first certificate")
    _check_leaf(leaf)
    for index, (child, parent) in enumerate(zip(certs, certs[1:])):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ChainInvalid(f"'{child.subject.rfc4514_string()}' is not issued by the next "
                               f"certificate of the chain: {exc}") from None
        _check_ca(parent, index)
    if len(certs) > 1:
        if any(_self_signed(c) for c in certs[:-1]):
            raise ChainInvalid("only the last certificate of the chain may be self-signed")
        if not _self_signed(certs[-1]):
            raise ChainInvalid("the certificate chain must end at a root (self-signed)")


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _extension(cert: x509.Certificate, kind) -> x509.Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


_FORBIDDEN_USES = (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, ExtendedKeyUsageOID.SERVER_AUTH,
                   ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION,
                   ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.OCSP_SIGNING)


def _check_leaf(cert: x509.Certificate) -> None:
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.value.ca:
        raise ChainInvalid("the signing certificate is a CA certificate")
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not usage.critical or not usage.value.digital_signature or any(
            getattr(usage.value, bit) for bit in ("key_encipherment", "data_encipherment",
                                                  "key_agreement", "key_cert_sign", "crl_sign")):
        raise ChainInvalid("the signing certificate's key usage must be critical and "
                           "digitalSignature only")
    extended = _extension(cert, x509.ExtendedKeyUsage)
    if extended is not None and any(use in extended.value for use in _FORBIDDEN_USES):
        raise ChainInvalid("the signing certificate's extended key usage may name "
                           "codeSigning, not serverAuth, clientAuth, emailProtection, "
                           "timeStamping, OCSPSigning or anyExtendedKeyUsage")


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """``below``: how many CA certificates stand between it and the leaf."""
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    subject = cert.subject.rfc4514_string()
    if constraints is None or not constraints.critical or not constraints.value.ca:
        raise ChainInvalid(f"'{subject}' issues a certificate of the chain but is not a CA "
                           "(basicConstraints, critical)")
    if constraints.value.path_length is not None and constraints.value.path_length < below:
        raise ChainInvalid(f"'{subject}' allows {constraints.value.path_length} CAs below "
                           "it: the chain has more")
    if usage is None or not usage.critical or not usage.value.key_cert_sign:
        raise ChainInvalid(f"'{subject}' lacks the keyCertSign usage (critical)")
