"""berth.serving.tls: the certificate from files (errors naming the setting; re-read on SIGHUP
into the same context, a bad renewal leaving the old one in use) and ``--tls self-signed``'s
own CA and server certificate. Handshakes are real, over memory BIOs."""
from __future__ import annotations

import datetime
import logging
import signal
import ssl
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509

from berth.serving import tls
from berth.serving.tls import (
    SelfSigned,
    TlsError,
    TlsFiles,
    reloading_context,
    server_names,
)
from tests.support.certificates import issue_pair, new_ca
from tests.support.log_records import records_of


def handshake(server_context: ssl.SSLContext, ca_file: Path,
              hostname: str = "localhost") -> x509.Certificate:
    """A TLS handshake between a client trusting ``ca_file`` (checking ``hostname``) and a
    server with ``server_context``; the certificate the server presented."""
    client_context = ssl.create_default_context(cafile=str(ca_file))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return x509.load_der_x509_certificate(client.getpeercert(binary_form=True))
    raise AssertionError(f"handshake did not finish: {done}")


@pytest.fixture
def ca(tmp_path):
    return new_ca(tmp_path / "ca")


@pytest.fixture
def pair(tmp_path, ca):
    """Certificate and key files for localhost, and the certificate's serial number."""
    files = TlsFiles(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    serial = issue_pair(ca, Path(files.cert), Path(files.key), ["localhost", "127.0.0.1"])
    return files, serial


@pytest.fixture
def sighup_restored():
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


def hangup() -> None:
    """SIGHUP to this process, as an operator's renewal sends it (not without a handler:
    that would end the test run)."""
    assert callable(signal.getsignal(signal.SIGHUP)), "no SIGHUP handler installed"
    signal.raise_signal(signal.SIGHUP)


@pytest.fixture
def tls_log():
    with records_of("berth.tls") as records:
        yield records


# --- certificate files ------------------------------------------------------------------


def test_context_serves_the_files_certificate(pair, ca):
    files, serial = pair
    context = files.context()
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert handshake(context, ca.cert_path).serial_number == serial


@pytest.mark.parametrize("missing, setting", [("cert", "tls_cert"), ("key", "tls_key")])
def test_an_unreadable_file_names_its_setting(pair, missing, setting):
    files, _ = pair
    Path(getattr(files, missing)).unlink()
    with pytest.raises(TlsError) as caught:
        files.context()
    message = str(caught.value)
    assert message.startswith(f"{setting}: cannot read ")
    assert getattr(files, missing) in message


def test_a_key_of_another_certificate_is_refused(tmp_path, pair, ca):
    files, _ = pair
    other_key = tmp_path / "other.key"
    issue_pair(ca, tmp_path / "other.crt", other_key, ["localhost"])
    mismatched = TlsFiles(files.cert, str(other_key))
    with pytest.raises(TlsError) as caught:
        mismatched.context()
    message = str(caught.value)
    assert message.startswith("tls_cert/tls_key: ")
    assert files.cert in message and str(other_key) in message
    assert "\n" not in message


def test_files_that_are_not_pem_are_refused(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    with pytest.raises(TlsError, match=r"^tls_cert/tls_key: .* not a certificate and its "
                                       r"private key in PEM"):
        TlsFiles(str(cert), str(key)).context()


def test_load_into_replaces_the_certificate_of_the_same_context(pair, ca):
    files, first = pair
    context = files.context()
    second = issue_pair(ca, Path(files.cert), Path(files.key), ["localhost"])
    assert second != first
    assert handshake(context, ca.cert_path).serial_number == first  # not re-read by itself
    files.load_into(context)
    assert handshake(context, ca.cert_path).serial_number == second


def _damage(files: TlsFiles, ca, scratch: Path, damage: str) -> None:
    if damage == "garbage certificate":
        Path(files.cert).write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    elif damage == "truncated key":
        Path(files.key).write_text("-----BEGIN PRIVATE KEY-----\n")
    elif damage == "new key, old certificate":
        issue_pair(ca, scratch / "other.crt", Path(files.key), ["localhost"])
    elif damage == "new certificate, old key":  # a renewal caught halfway
        issue_pair(ca, Path(files.cert), scratch / "other.key", ["localhost"])
    else:
        assert damage == "missing key"
        Path(files.key).unlink()


DAMAGES = ["garbage certificate", "truncated key", "new key, old certificate",
           "new certificate, old key", "missing key"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_failed_load_into_keeps_the_context_serving(tmp_path, pair, ca, damage):
    files, serial = pair
    context = files.context()
    _damage(files, ca, tmp_path, damage)
    with pytest.raises(TlsError):
        files.load_into(context)
    assert handshake(context, ca.cert_path).serial_number == serial


# --- SIGHUP -----------------------------------------------------------------------------


def test_sighup_reloads_into_the_same_context(pair, ca, sighup_restored, tls_log):
    files, first = pair
    context = reloading_context(files)
    assert handshake(context, ca.cert_path).serial_number == first
    renewed = issue_pair(ca, Path(files.cert), Path(files.key), ["localhost"])
    hangup()
    assert handshake(context, ca.cert_path).serial_number == renewed
    assert [r.levelno for r in tls_log] == [logging.INFO]
    assert files.cert in tls_log[0].getMessage()


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_bad_renewal_keeps_the_certificate_in_use(tmp_path, pair, ca, sighup_restored,
                                                     tls_log, damage):
    files, first = pair
    context = reloading_context(files)
    _damage(files, ca, tmp_path, damage)
    hangup()
    assert handshake(context, ca.cert_path).serial_number == first
    assert [r.levelno for r in tls_log] == [logging.ERROR]
    message = tls_log[0].getMessage()
    assert "not reloaded" in message and "tls_" in message
    # ... and a good renewal afterwards is taken.
    renewed = issue_pair(ca, Path(files.cert), Path(files.key), ["localhost"])
    hangup()
    assert handshake(context, ca.cert_path).serial_number == renewed


def test_context_factory_uses_uvicorns_file_settings(pair, ca, sighup_restored):
    files, serial = pair
    config = SimpleNamespace(ssl_certfile=files.cert, ssl_keyfile=files.key)
    context = tls.context_factory(config, None)
    assert handshake(context, ca.cert_path).serial_number == serial
    assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN, None)


# --- self-signed ------------------------------------------------------------------------

NAMES = ["localhost", "*.localhost", "127.0.0.1", "::1", "*.dkr.ecr.us-east-1.localhost"]


def _cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _sans(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ({str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
            | set(san.get_values_for_type(x509.DNSName)))


def test_first_ensure_makes_a_ca_and_a_server_certificate(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    assert own.ensure(NAMES) is True
    files = [own.ca_key, own.ca_cert, Path(own.files.cert), Path(own.files.key)]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in own.trust_dir.iterdir()) == ["ca.crt"]
    # Nothing else lies about: no temporary files left by the writes.
    assert sorted(p.name for p in own.directory.iterdir()) == sorted(
        ["ca.key", "server.crt", "server.key", "trust"])
    ca, server = _cert(own.ca_cert), _cert(own.files.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert server.issuer == ca.subject
    assert _sans(server) == set(NAMES)


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1",
                                      "123456789012.dkr.ecr.us-east-1.localhost"])
def test_the_server_certificate_verifies_against_the_ca(tmp_path, hostname):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    assert handshake(own.files.context(), own.ca_cert, hostname).serial_number == \
        _cert(own.files.cert).serial_number


def test_a_name_not_covered_does_not_verify(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(own.files.context(), own.ca_cert, "registry.example.com")


def test_ensure_again_keeps_everything(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    before = {p: p.read_bytes() for p in own.directory.rglob("*") if p.is_file()}
    assert own.ensure(list(reversed(NAMES))) is False  # the same names, in another order
    assert {p: p.read_bytes() for p in own.directory.rglob("*") if p.is_file()} == before


def test_new_names_reissue_the_server_certificate_under_the_same_ca(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    ca_before = (own.ca_cert.read_bytes(), own.ca_key.read_bytes())
    serial_before = _cert(own.files.cert).serial_number
    names = NAMES + ["registry.example.com"]
    assert own.ensure(names) is False
    assert (own.ca_cert.read_bytes(), own.ca_key.read_bytes()) == ca_before
    server = _cert(own.files.cert)
    assert server.serial_number != serial_before
    assert _sans(server) == set(names)
    assert stat.S_IMODE(Path(own.files.key).stat().st_mode) == 0o600
    assert handshake(own.files.context(), own.ca_cert, "registry.example.com")


@pytest.mark.parametrize("days_left, reissued", [
    (tls.RENEW_BEFORE.days - 1, True), (tls.RENEW_BEFORE.days + 5, False)])
def test_a_server_certificate_near_its_end_is_reissued(tmp_path, monkeypatch, days_left,
                                                         reissued):
    own = SelfSigned(tmp_path / "tls")
    with monkeypatch.context() as short:
        short.setattr(tls, "SERVER_VALIDITY", datetime.timedelta(days=days_left))
        own.ensure(NAMES)
    first = _cert(own.files.cert)
    left = first.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert left < datetime.timedelta(days=days_left)
    ca_before = own.ca_cert.read_bytes()
    own.ensure(NAMES)
    now = _cert(own.files.cert)
    assert (now.serial_number != first.serial_number) is reissued
    assert own.ca_cert.read_bytes() == ca_before
    if reissued:
        assert now.not_valid_after_utc - first.not_valid_after_utc > datetime.timedelta(days=300)


def test_an_unreadable_server_certificate_is_reissued(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    Path(own.files.cert).write_text("damaged")
    assert own.ensure(NAMES) is False
    assert _sans(_cert(own.files.cert)) == set(NAMES)
    assert handshake(own.files.context(), own.ca_cert).issuer == _cert(own.ca_cert).subject


def test_a_lost_ca_key_makes_a_new_ca(tmp_path):
    own = SelfSigned(tmp_path / "tls")
    own.ensure(NAMES)
    old_ca = own.ca_cert.read_bytes()
    own.ca_key.unlink()
    assert own.ensure(NAMES) is True
    assert own.ca_cert.read_bytes() != old_ca
    # The server certificate is the new CA's (the old one could not be verified any more).
    assert handshake(own.files.context(), own.ca_cert).issuer == _cert(own.ca_cert).subject


# --- server names -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", ""])
def test_a_wildcard_address_names_this_machine(monkeypatch, host):
    monkeypatch.setattr(tls.socket, "gethostname", lambda: "buildbox-7")
    names = server_names(host, "example.test", ("us-east-1", "eu-west-1"))
    assert "buildbox-7" in names
    assert host not in names
    assert {"localhost", "127.0.0.1", "::1", "*.example.test"} <= set(names)
    assert {n for n in names if ".dkr.ecr." in n} == {
        "*.dkr.ecr.us-east-1.example.test", "*.dkr.ecr.eu-west-1.example.test"}
    assert len(names) == len(set(names))


@pytest.mark.parametrize("host", ["10.1.2.3", "registry.internal", "fd00::5"])
def test_a_given_address_is_named_and_not_the_hostname(monkeypatch, host):
    monkeypatch.setattr(tls.socket, "gethostname", lambda: "buildbox-7")
    names = server_names(host, "localhost", ("us-east-1",))
    assert host in names
    assert "buildbox-7" not in names
    assert "*.dkr.ecr.us-east-1.localhost" in names


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_names_are_not_repeated(host):
    names = server_names(host, "localhost", ("us-east-1", "us-east-1"))
    assert len(names) == len(set(names))
    assert names.count(host) == 1


def test_server_names_make_a_certificate_that_covers_them(tmp_path):
    names = server_names("10.9.8.7", "registry.test", ("ap-south-1",))
    own = SelfSigned(tmp_path / "tls")
    own.ensure(names)
    assert _sans(_cert(own.files.cert)) == set(names)
    for hostname in ("10.9.8.7", "999999999999.dkr.ecr.ap-south-1.registry.test"):
        handshake(own.files.context(), own.ca_cert, hostname)
