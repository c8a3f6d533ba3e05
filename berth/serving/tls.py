"""HTTPS: the server's certificate from files (re-read on SIGHUP, so renewals need no restart),
or a CA and server certificate of Berth's own for a first run (``--tls self-signed``)."""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("berth.tls")

SELF_SIGNED = "self-signed"
# A self-signed server certificate is reissued this long before it expires.
RENEW_BEFORE = datetime.timedelta(days=30)
SERVER_VALIDITY = datetime.timedelta(days=397)
CA_VALIDITY = datetime.timedelta(days=3650)


class TlsError(ValueError):
    """The TLS settings or files cannot serve: one line naming the setting."""


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str

    def context(self) -> ssl.SSLContext:
        """A server context holding the current files (TlsError naming what is wrong)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load_into(context)
        return context

    def load_into(self, context: ssl.SSLContext) -> None:
        """Replace the context's certificate: connections made from now on present it."""
        for setting, path in (("tls_cert", self.cert), ("tls_key", self.key)):
            if not os.access(path, os.R_OK):
                raise TlsError(f"{setting}: cannot read {path}")
        try:
            # Tried on a scratch context first: OpenSSL drops the context's key when it is
            # given a certificate the key does not match, so a failed load straight into the
            # context in use (say, a renewed certificate beside the old key) left it
            # serving no certificate at all.
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert, self.key)
            context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(f"tls_cert/tls_key: {self.cert} and {self.key} are not a "
                           f"certificate and its private key in PEM ({exc.reason or exc})") \
                from exc


def reloading_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for this process, re-read from the files on SIGHUP; a bad renewal is
    logged and the certificate in use kept."""
    context = files.context()

    def reload(*_) -> None:
        try:
            files.load_into(context)
        except TlsError as exc:
            log.error("certificate not reloaded, the previous one stays in use: %s", exc)
        else:
            log.info("certificate reloaded from %s", files.cert)

    signal.signal(signal.SIGHUP, reload)
    return context


def context_factory(config, _default) -> ssl.SSLContext:
    """uvicorn's ssl_context_factory, called in each server process as it loads."""
    return reloading_context(TlsFiles(config.ssl_certfile, config.ssl_keyfile))


@dataclass(frozen=True)
class SelfSigned:
    """Where ``--tls self-signed`` keeps its files under the data directory."""
    directory: Path

    @property
    def trust_dir(self) -> Path:
        """Only the CA certificate: fit for docker's certs.d and skopeo's --cert-dir."""
        return self.directory / "trust"

    @property
    def ca_cert(self) -> Path:
        return self.trust_dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def files(self) -> TlsFiles:
        return TlsFiles(str(self.directory / "server.crt"), str(self.directory / "server.key"))

    def ensure(self, names: list[str]) -> bool:
        """A CA (kept) and a server certificate for ``names`` (reissued when its names change
        or it nears its end); True when the CA was made now."""
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        made = not (self.ca_cert.exists() and self.ca_key.exists())
        if made:
            key = ec.generate_private_key(ec.SECP256R1())
            _write(self.ca_key, _key_pem(key))
            _write(self.ca_cert, _ca_certificate(key).public_bytes(serialization.Encoding.PEM))
        if made or not _covers(Path(self.files.cert), names):
            self._issue(names)
        return made

    def _issue(self, names: list[str]) -> None:
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca, ca_key, names)
        _write(Path(self.files.key), _key_pem(key))
        _write(Path(self.files.cert), cert.public_bytes(serialization.Encoding.PEM))
        log.info("issued a server certificate for %s", ", ".join(names))


def server_names(host: str, domain: str, regions: tuple[str, ...]) -> list[str]:
    """The names a first-run certificate covers: the listen address (this machine's name and
    loopback for a wildcard address), localhost, and every registry host name."""
    names = ["localhost", f"*.{domain}", "127.0.0.1", "::1"]
    if host in ("0.0.0.0", "::", ""):
        names.append(socket.gethostname())
    else:
        names.append(str(_general_name(host).value))  # IPs as the certificate spells them
    names += [f"*.dkr.ecr.{region}.{domain}" for region in regions]
    return list(dict.fromkeys(names))


def _covers(cert_path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    return sorted(_san_names(cert)) == sorted(names)


def _san_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ([str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            + san.get_values_for_type(x509.DNSName))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"Berth local CA ({socket.gethostname()})")])
    now = _now()
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))


def _server_certificate(key, ca: x509.Certificate, ca_key, names: list[str]) -> x509.Certificate:
    now = _now()
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(min(now + SERVER_VALIDITY, ca.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all (a crash leaves the previous file); private to its owner."""
    temp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
